package e2e

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// Prometheus remote write and read through influxgate (issue 16), against
// real influxd. The requests are built with Prometheus's own protobuf
// types (prompb) and snappy, as Prometheus's remote-write client sends
// them; prom_prometheus_test.go drives Prometheus itself.

// promSeries builds a series from alternating label names and values.
func promSeries(labels []string, samples ...prompb.Sample) prompb.TimeSeries {
	ts := prompb.TimeSeries{Samples: samples}
	for i := 0; i+1 < len(labels); i += 2 {
		ts.Labels = append(ts.Labels, prompb.Label{Name: labels[i], Value: labels[i+1]})
	}
	return ts
}

func sample(ms int64, v float64) prompb.Sample { return prompb.Sample{Timestamp: ms, Value: v} }

// promBody is a remote-write body: the request's protobuf in a snappy block.
func promBody(t testing.TB, req *prompb.WriteRequest) []byte {
	t.Helper()
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

// promReadBody is a remote-read body for one query.
func promReadBody(t testing.TB, startMs, endMs int64, matchers ...*prompb.LabelMatcher) []byte {
	t.Helper()
	req := prompb.ReadRequest{Queries: []*prompb.Query{{StartTimestampMs: startMs, EndTimestampMs: endMs, Matchers: matchers}}}
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

// promHeaders are the headers Prometheus's remote-write client sends.
var promHeaders = map[string]string{"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
	"X-Prometheus-Remote-Write-Version": "0.1.0"}

// promVaried is a request that exercises InfluxDB's conversion: labels out
// of order, duplicated, empty, with separators, backslashes and UTF-8 in
// them, no metric name, floats at the edges of their range, timestamps
// before 1970 and past 2262 (InfluxDB's nanoseconds wrap), NaN (a
// staleness marker too) and, for 1.8, ±Inf, which InfluxDB 1.8 drops.
func promVaried(withInf bool) *prompb.WriteRequest {
	stale := math.Float64frombits(0x7ff0000000000002) // Prometheus's staleness marker
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		promSeries([]string{"__name__", "http_requests_total", "code", "200", "method", "GET", "path", "/a b,c=d"},
			sample(1000, 1), sample(2000, 2.5), sample(3000, math.Copysign(0, -1)), sample(4000, stale)),
		promSeries([]string{"job", "nameless", "instance", "localhost:9100"}, sample(1000, 7)),
		promSeries([]string{"b", "2", "__name__", "unsorted", "a", "1"}, sample(5000, 1e308), sample(6000, 5e-324)),
		promSeries([]string{"__name__", "dup", "a", "1", "a", "2"}, sample(1000, 123456789.123456789)),
		promSeries([]string{"__name__", "emptyval", "a", "", "b", "x"}, sample(1000, -1.5e-10)),
		promSeries([]string{"__name__", "temp_°C", "city", "Zürich"}, sample(1000, 21.5), sample(2000, math.NaN())),
		promSeries([]string{"__name__", "windows_path", "path", `C:\Program Files\x`, "share", `\\srv\a b`}, sample(1000, 1e21)),
		promSeries([]string{"__name__", "odd name,with=signs"}, sample(1000, 3)),
		promSeries([]string{"__name__", "times"}, sample(0, 1), sample(-1000, 2), sample(1_700_000_000_123, 3),
			sample(9_300_000_000_000, 4)),
		promSeries([]string{"__name__", "no_samples"}),
	}}
	if withInf {
		req.Timeseries = append(req.Timeseries, promSeries([]string{"__name__", "infs"},
			sample(1000, math.Inf(1)), sample(2000, math.Inf(-1)), sample(3000, 9)))
	}
	return req
}

// protoField appends a protobuf field of wire type 2 (bytes) to b.
func protoField(b []byte, num int, v []byte) []byte {
	b = append(b, byte(num<<3|2), byte(len(v)))
	return append(b, v...)
}

// Issue 16: a remote write through influxgate is answered as influxd
// answers it and stores on every backend exactly what influxd's own
// endpoint stores, point for point, for influxd 1.6.7 and 1.8.10; bad
// bodies get influxd's status and message.
func TestPromWriteStoresWhatInfluxDBStores(t *testing.T) {
	// A label whose name is a protobuf field of the wrong wire type, a
	// label with the reserved field number 0, and a sample whose
	// timestamp is a string: errors inside nested messages.
	badLabel := protoField(nil, 1, protoField(nil, 1, []byte{0x00, 0x01}))
	badSample := protoField(nil, 1, protoField(nil, 2, []byte{0x12, 0x01, 'x'}))
	longValue := strings.Repeat("v", 65_530)
	// 2^57 ms times 1e6 wraps to the lowest int64, which InfluxDB reserves.
	reserved := int64(1) << 57
	type promCase struct {
		name   string
		target string
		body   []byte
		status int
		v18    bool // influxd 1.8 only (±Inf: 1.6 refuses them, which is checked)
	}
	for _, v := range []testinflux.Version{testinflux.V167, testinflux.V1810} {
		t.Run(string(v), func(t *testing.T) {
			t.Parallel()
			cases := []promCase{
				{name: "varied", target: "/api/v1/prom/write?db=prom", body: promBody(t, promVaried(false)), status: 204},
				{name: "±Inf", target: "/api/v1/prom/write?db=prom", body: promBody(t, promVaried(true)), status: 204, v18: true},
				{name: "retention policy", target: "/api/v1/prom/write?db=prom&rp=week",
					body: promBody(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
						promSeries([]string{"__name__", "in_week", "a", "b"}, sample(time.Now().UnixMilli(), 1))}}), status: 204},
				{name: "no series", target: "/api/v1/prom/write?db=prom", body: promBody(t, &prompb.WriteRequest{}), status: 204},
				{name: "empty body", target: "/api/v1/prom/write?db=prom", body: nil, status: 400},
				{name: "not snappy", target: "/api/v1/prom/write?db=prom", body: []byte("cpu value=1\n"), status: 400},
				{name: "snappy, not protobuf", target: "/api/v1/prom/write?db=prom", body: snappy.Encode(nil, []byte{0xff, 0xff, 0xff}), status: 400},
				{name: "bad label", target: "/api/v1/prom/write?db=prom", body: snappy.Encode(nil, badLabel), status: 400},
				{name: "bad sample", target: "/api/v1/prom/write?db=prom", body: snappy.Encode(nil, badSample), status: 400},
				{name: "time out of range", target: "/api/v1/prom/write?db=prom", body: promBody(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
					promSeries([]string{"__name__", "fine"}, sample(1000, 1)),
					promSeries([]string{"__name__", "reserved"}, sample(reserved, 1))}}), status: 400},
				{name: "key too long", target: "/api/v1/prom/write?db=prom", body: promBody(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
					promSeries([]string{"__name__", "fine2"}, sample(1000, 1)),
					promSeries([]string{"__name__", "long", "l", longValue}, sample(1000, 1))}}), status: 400},
				{name: "tag key time", target: "/api/v1/prom/write?db=prom", body: promBody(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
					promSeries([]string{"__name__", "timetag", "time", "x"}, sample(1000, 1))}}), status: 400},
				{name: "missing db", target: "/api/v1/prom/write", body: promBody(t, promVaried(false)), status: 400},
				{name: "unknown db", target: "/api/v1/prom/write?db=nodb", body: promBody(t, promVaried(false)), status: 404},
				{name: "bad consistency", target: "/api/v1/prom/write?db=prom&consistency=most", body: promBody(t, promVaried(false)), status: 400},
				{name: "consistency all", target: "/api/v1/prom/write?db=prom&consistency=all", body: promBody(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
					promSeries([]string{"__name__", "all"}, sample(1000, 1))}}), status: 204},
				{name: "over max-body-size", target: "/api/v1/prom/write?db=prom", body: bytes.Repeat([]byte{0}, 25_000_001), status: 413},
			}
			a := testinflux.Start(t, testinflux.Options{Version: v})
			b := testinflux.Start(t, testinflux.Options{Version: v})
			ref := testinflux.Start(t, testinflux.Options{Version: v})
			for _, s := range []*testinflux.Server{a, b, ref} {
				s.CreateDatabase(t, "prom")
				s.CreateDatabase(t, "inf")
				s.Exec(t, `CREATE RETENTION POLICY "week" ON "prom" DURATION 7d REPLICATION 1`)
			}
			g := startGate(t, newConfig(t, a, b))
			gateAddr := strings.TrimPrefix(g.url, "http://")
			for _, c := range cases {
				if c.v18 && v != testinflux.V1810 {
					// The documented difference: influxd 1.6 refuses ±Inf
					// (the whole request), influxgate drops them as 1.8.
					target := strings.Replace(c.target, "db=prom", "db=inf", 1)
					want := rawRequest(t, ref.Addr(), http.MethodPost, target, promHeaders, c.body, false)
					got := rawRequest(t, gateAddr, http.MethodPost, target, promHeaders, c.body, false)
					if want.Status != http.StatusBadRequest || want.errText() != "+/-Inf is an unsupported value for field value" || got.Status != http.StatusNoContent {
						t.Errorf("%s: influxd %d %s, influxgate %d %s; want influxd's 400 for ±Inf and influxgate's 204", c.name,
							want.Status, short(want.Body), got.Status, short(got.Body))
					}
					continue
				}
				want := rawRequest(t, ref.Addr(), http.MethodPost, c.target, promHeaders, c.body, false)
				got := rawRequest(t, gateAddr, http.MethodPost, c.target, promHeaders, c.body, false)
				if want.Status != c.status {
					t.Errorf("%s: influxd answered %d %s, the case expects %d", c.name, want.Status, short(want.Body), c.status)
				}
				if got.Status != want.Status || !bytes.Equal(got.Body, want.Body) ||
					got.Headers["X-Influxdb-Error"] != want.Headers["X-Influxdb-Error"] {
					t.Errorf("%s:\n influxgate %d %s (X-Influxdb-Error %q)\n    influxd %d %s (X-Influxdb-Error %q)", c.name,
						got.Status, short(got.Body), got.Headers["X-Influxdb-Error"],
						want.Status, short(want.Body), want.Headers["X-Influxdb-Error"])
				}
			}
			g.waitCaughtUp(t, 30*time.Second)
			want := ref.Points(t, "prom")
			if len(want) < 15 {
				t.Fatalf("the reference holds only %d points: %v", len(want), want)
			}
			samePoints(t, "prom", want, a, b)
		})
	}
}

// Issue 16: a metric or label that line protocol cannot carry (a value
// ending in a backslash) is not relayed: the rest of the request is
// written and the answer is a partial write, which Prometheus does not
// retry; the samples are counted.
func TestPromWriteUnrelayableLabels(t *testing.T) {
	a, b := twoBackends(t, "prom")
	g := startGate(t, newConfig(t, a, b))
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		promSeries([]string{"__name__", "ok", "a", "1"}, sample(1000, 1)),
		promSeries([]string{"__name__", "drive", "path", `C:\`}, sample(1000, 1), sample(2000, 2)),
		promSeries([]string{"__name__", "multi", "text", "two\nlines"}, sample(1000, 1)),
	}}
	r := do(t, http.MethodPost, g.url+"/api/v1/prom/write?db=prom", string(promBody(t, req)))
	if r.Status != http.StatusBadRequest || !strings.HasPrefix(r.errText(), "partial write: 3 sample(s) of 2 series not relayed") ||
		!strings.HasSuffix(r.errText(), "dropped=3") {
		t.Fatalf("answer %d %s, want a 400 partial write of 3 samples", r.Status, r.Body)
	}
	g.waitCaughtUp(t, 10*time.Second)
	samePoints(t, "prom", []string{`ok,__name__=ok,a=1 value=1 1000000000`}, a, b)
	m := do(t, http.MethodGet, g.url+"/metrics", "")
	for _, line := range []string{
		`influxgate_http_prom_write_samples_dropped_total{reason="unrelayable"} 3`,
		`influxgate_http_write_points_total{endpoint="prom",status="400"} 1`,
	} {
		if !strings.Contains(m.Body, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

// promRead returns the whole answer of a remote read (status, the headers
// that matter, body).
func promRead(t testing.TB, url string, body []byte) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Accept-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("X-Prometheus-Remote-Read-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("remote read %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type") + "; " + resp.Header.Get("Content-Encoding"), b
}

// anySeries is a remote read case's series count for "one or more".
const anySeries = 1 << 20

// promDecode decodes a remote read answer into "labels: samples" lines.
func promDecode(t testing.TB, body []byte) []string {
	t.Helper()
	plain, err := snappy.Decode(nil, body)
	if err != nil {
		t.Fatalf("remote read answer: %v", err)
	}
	var resp prompb.ReadResponse
	if err := resp.Unmarshal(plain); err != nil {
		t.Fatalf("remote read answer: %v", err)
	}
	var out []string
	for _, res := range resp.Results {
		for _, ts := range res.Timeseries {
			var s strings.Builder
			for _, l := range ts.Labels {
				s.WriteString(l.Name + "=" + strconv.Quote(l.Value) + " ")
			}
			s.WriteString(":")
			for _, smp := range ts.Samples {
				s.WriteString(" " + strconv.FormatFloat(smp.Value, 'g', -1, 64) + "@" + strconv.FormatInt(smp.Timestamp, 10))
			}
			out = append(out, s.String())
		}
	}
	return out
}

// Issue 16: a remote read through influxgate is answered byte for byte as
// the server answers it directly (matchers of every kind, errors too), and
// still answered when one backend is down.
func TestPromReadAnswersAsInfluxDB(t *testing.T) {
	for _, v := range []testinflux.Version{testinflux.V167, testinflux.V1810} {
		t.Run(string(v), func(t *testing.T) {
			t.Parallel()
			a := testinflux.Start(t, testinflux.Options{Version: v})
			b := testinflux.Start(t, testinflux.Options{Version: v})
			ref := testinflux.Start(t, testinflux.Options{Version: v})
			for _, s := range []*testinflux.Server{a, b, ref} {
				s.CreateDatabase(t, "prom")
			}
			g := startGate(t, newConfig(t, a, b))
			body := promBody(t, promVaried(false))
			for _, url := range []string{g.url, ref.URL()} {
				if r := do(t, http.MethodPost, url+"/api/v1/prom/write?db=prom", string(body)); r.Status != http.StatusNoContent {
					t.Fatalf("write to %s: %d %s", url, r.Status, r.Body)
				}
			}
			g.waitCaughtUp(t, 10*time.Second)
			eq := func(n, v string) *prompb.LabelMatcher {
				return &prompb.LabelMatcher{Type: prompb.LabelMatcher_EQ, Name: n, Value: v}
			}
			re := func(n, v string) *prompb.LabelMatcher {
				return &prompb.LabelMatcher{Type: prompb.LabelMatcher_RE, Name: n, Value: v}
			}
			two := prompb.ReadRequest{Queries: []*prompb.Query{
				{EndTimestampMs: 10_000, Matchers: []*prompb.LabelMatcher{eq("__name__", "dup")}},
				{EndTimestampMs: 10_000, Matchers: []*prompb.LabelMatcher{eq("__name__", "times")}}}}
			twoBody, err := two.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name string
				body []byte
				// series is how many series the answer must hold, as a
				// check that the case reads what it says; -1 for errors,
				// anySeries for at least one.
				series int
			}{
				{"by name", promReadBody(t, 0, 10_000, eq("__name__", "http_requests_total")), 1},
				{"by name and label", promReadBody(t, 0, 10_000, eq("__name__", "windows_path"), eq("share", `\\srv\a b`)), 1},
				{"regex", promReadBody(t, -10_000, 2_000_000_000_000, re("__name__", "t.*")), anySeries},
				{"not equal", promReadBody(t, 0, 10_000, eq("__name__", "unsorted"), &prompb.LabelMatcher{Type: prompb.LabelMatcher_NEQ, Name: "a", Value: "2"}), 1},
				{"time range", promReadBody(t, 1500, 2500, eq("__name__", "http_requests_total")), 1},
				{"no such metric", promReadBody(t, 0, 10_000, eq("__name__", "none")), 0},
				{"two queries", snappy.Encode(nil, twoBody), -1},
				{"no matcher", promReadBody(t, 0, 10_000), -1},
				{"not snappy", []byte("hello"), -1},
			}
			check := func(t *testing.T) (samples int) {
				for _, c := range cases {
					wantStatus, wantType, want := promRead(t, ref.URL()+"/api/v1/prom/read?db=prom", c.body)
					gotStatus, gotType, got := promRead(t, g.url+"/api/v1/prom/read?db=prom", c.body)
					if gotStatus != wantStatus || gotType != wantType || !bytes.Equal(got, want) {
						t.Errorf("%s:\n influxgate %d %s %s\n    influxd %d %s %s", c.name, gotStatus, gotType, short(got), wantStatus, wantType, short(want))
						continue
					}
					switch {
					case c.series < 0 && wantStatus == http.StatusOK:
						t.Errorf("%s: influxd answered 200, the case expects an error", c.name)
					case c.series >= 0:
						if wantStatus != http.StatusOK {
							t.Errorf("%s: influxd answered %d %s", c.name, wantStatus, want)
						} else if got := promDecode(t, want); len(got) != c.series && (c.series != anySeries || len(got) == 0) {
							t.Errorf("%s: %d series, the case expects %d: %v", c.name, len(got), c.series, got)
						} else {
							for _, s := range got {
								samples += strings.Count(s, "@")
							}
						}
					}
				}
				return samples
			}
			samples := check(t)
			m := do(t, http.MethodGet, g.url+"/metrics", "")
			if !strings.Contains(m.Body, `influxgate_query_requests_total{backend="a",class="read",endpoint="prom_read",status="200"}`) &&
				!strings.Contains(m.Body, `influxgate_query_requests_total{backend="b",class="read",endpoint="prom_read",status="200"}`) {
				t.Errorf("/metrics counts no remote read")
			}
			if want := fmt.Sprintf("influxgate_query_prom_read_samples_total %d\n", samples); !strings.Contains(m.Body, want) {
				t.Errorf("/metrics: want %q, got:\n%s", want, grepLines(m.Body, "prom_read_"))
			}
			// One backend down: the reads go to the other.
			a.Stop(t)
			check(t)
		})
	}
}

// Issue 16: remote writes acknowledged while a backend is down reach it
// when it is back, in order: both backends end up holding exactly what a
// server that was never down holds.
func TestPromWriteOutageLosesNothing(t *testing.T) {
	a, b := twoBackends(t, "prom")
	ref := testinflux.Start(t, testinflux.Options{})
	ref.CreateDatabase(t, "prom")
	cfg := newConfig(t, a, b)
	cfg.WriteTimeout = time.Second
	g := startGate(t, cfg)
	send := func(i int) {
		t.Helper()
		req := &prompb.WriteRequest{}
		for s := range 20 {
			req.Timeseries = append(req.Timeseries, promSeries(
				[]string{"__name__", "outage_metric", "instance", "host" + strconv.Itoa(s), "job", "node"},
				sample(int64(i)*1000, float64(i*s)), sample(int64(i)*1000+500, float64(i*s)+0.5)))
		}
		body := string(promBody(t, req))
		for _, url := range []string{g.url, ref.URL()} {
			if r := do(t, http.MethodPost, url+"/api/v1/prom/write?db=prom", body); r.Status != http.StatusNoContent {
				t.Fatalf("write %d to %s: %d %s", i, url, r.Status, r.Body)
			}
		}
	}
	for i := range 10 {
		send(i)
	}
	b.Stop(t)
	for i := 10; i < 60; i++ {
		send(i)
	}
	// consistency=all cannot be met with b down: InfluxDB's timeout answer
	// after write-timeout, and the write is still delivered to both.
	all := string(promBody(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		promSeries([]string{"__name__", "outage_all"}, sample(1000, 1))}}))
	if r := do(t, http.MethodPost, g.url+"/api/v1/prom/write?db=prom&consistency=all", all); r.Status != http.StatusServiceUnavailable {
		t.Errorf("consistency=all with a backend down: %d %s, want 503", r.Status, r.Body)
	}
	if r := do(t, http.MethodPost, ref.URL()+"/api/v1/prom/write?db=prom", all); r.Status != http.StatusNoContent {
		t.Fatalf("write to the reference: %d %s", r.Status, r.Body)
	}
	b.Restart(t)
	for i := 60; i < 70; i++ {
		send(i)
	}
	g.waitCaughtUp(t, 60*time.Second)
	want := ref.Points(t, "prom")
	if len(want) != 70*20*2+1 {
		t.Fatalf("the reference holds %d points, want %d", len(want), 70*20*2+1)
	}
	samePoints(t, "prom", want, a, b)
}
