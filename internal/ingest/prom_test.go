package ingest

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/prompb"

	"github.com/influxgate/influxgate/internal/lineproto"
)

func promReq(series ...prompb.TimeSeries) *prompb.WriteRequest {
	return &prompb.WriteRequest{Timeseries: series}
}

func series(labels []string, samples ...prompb.Sample) prompb.TimeSeries {
	ts := prompb.TimeSeries{Samples: samples}
	for i := 0; i+1 < len(labels); i += 2 {
		ts.Labels = append(ts.Labels, prompb.Label{Name: labels[i], Value: labels[i+1]})
	}
	return ts
}

func at(ms int64, v float64) prompb.Sample { return prompb.Sample{Timestamp: ms, Value: v} }

func encodeProm(t testing.TB, req *prompb.WriteRequest) []byte {
	t.Helper()
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

// The series keys are InfluxDB 1.8's (models.MakeKey of the labels as a
// map of tags), checked point for point against influxd in
// internal/e2e/prom_test.go; these pin the rules.
func TestPromKeys(t *testing.T) {
	cases := []struct {
		name      string
		labels    []string
		key       string
		relayable bool
	}{
		{"name and labels sorted", []string{"b", "2", "__name__", "up", "a", "1"}, "up,__name__=up,a=1,b=2", true},
		{"no name", []string{"job", "x"}, "prom_metric_not_specified,job=x", true},
		{"last of a name wins", []string{"__name__", "m", "a", "1", "a", "2", "__name__", "n"}, "n,__name__=n,a=2", true},
		{"empty value left out", []string{"__name__", "m", "a", "", "b", "x"}, "m,__name__=m,b=x", true},
		{"separators escaped", []string{"__name__", "a b,c=d", "k=1", "v 1,2"}, `a\ b\,c=d,__name__=a\ b\,c\=d,k\=1=v\ 1\,2`, true},
		{"backslashes inside", []string{"__name__", "w", "p", `C:\x\ y`}, `w,__name__=w,p=C:\x\\ y`, true},
		{"measurement unescaped once", []string{"__name__", `a\,b`}, `a\,b,__name__=a\\,b`, true},
		{"value ending in a backslash", []string{"__name__", "w", "p", `C:\`}, `w,__name__=w,p=C:\`, false},
		{"name ending in a backslash", []string{"__name__", `m\`}, `m\,__name__=m\`, false},
		{"newline", []string{"__name__", "m", "t", "a\nb"}, "m,__name__=m,t=a\nb", false},
		{"empty name", []string{"__name__", ""}, "", false},
		{"comment", []string{"__name__", "#m"}, "#m,__name__=#m", false},
		{"leading tab", []string{"__name__", "\tm"}, "\tm,__name__=\tm", false},
		{"empty label name", []string{"__name__", "m", "", "v"}, "m,=v,__name__=m", false},
	}
	var c promConverter
	for _, tc := range cases {
		var ls []prompb.Label
		for i := 0; i+1 < len(tc.labels); i += 2 {
			ls = append(ls, prompb.Label{Name: tc.labels[i], Value: tc.labels[i+1]})
		}
		relayable := c.buildKey(ls)
		if string(c.key) != tc.key || relayable != tc.relayable {
			t.Errorf("%s: key %q relayable %v, want %q %v", tc.name, c.key, relayable, tc.key, tc.relayable)
		}
	}
}

func TestPromConvert(t *testing.T) {
	stale := math.Float64frombits(0x7ff0000000000002)
	req := promReq(
		series([]string{"__name__", "m", "a", "1"}, at(1000, 1), at(2000, math.NaN()), at(3000, stale), at(4000, -0.5)),
		series([]string{"__name__", "i"}, at(1, math.Inf(1)), at(2, math.Inf(-1)), at(3, 1e308)),
		series([]string{"__name__", "bad", "p", `x\`}, at(1, 1), at(2, 2)),
		series([]string{"__name__", "t"}, at(-1, 5e-324), at(9_300_000_000_000, 2)),
		series([]string{"__name__", "empty"}),
	)
	var c promConverter
	b, err := c.convert(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	want := "m,__name__=m,a=1 value=1 1000000000\n" +
		"m,__name__=m,a=1 value=-0.5 4000000000\n" +
		"i,__name__=i value=1e+308 3000000\n" +
		"t,__name__=t value=5e-324 -1000000\n" +
		// 9.3e12 ms is past 2262: InfluxDB's product wraps, and so does ours.
		"t,__name__=t value=2 -9146744073709551616\n"
	if string(b.body) != want {
		t.Errorf("body:\n%s\nwant:\n%s", b.body, want)
	}
	if b.lines != 5 || b.nan != 2 || b.inf != 2 || b.unrelayable != 2 || b.unrelayableSeries != 1 {
		t.Errorf("counts %+v", b)
	}
	if bound := promLineBound(req); bound < len(b.body) {
		t.Errorf("bound %d below the body's %d bytes", bound, len(b.body))
	}
	lineproto.Lines(b.body, func(line []byte) bool {
		if err := lineproto.ValidateLine(line); err != nil {
			t.Errorf("line %q: %v", line, err)
		}
		return true
	})
}

// InfluxDB refuses the whole request for a time it cannot store or a key
// that is too long, checked sample by sample in order: nothing is logged.
func TestPromConvertRefusals(t *testing.T) {
	cases := []struct {
		name string
		req  *prompb.WriteRequest
		want string
	}{
		{"reserved time", promReq(series([]string{"__name__", "ok"}, at(1, 1)), series([]string{"__name__", "r"}, at(1<<57, 1))),
			"time outside range -9223372036854775806 - 9223372036854775806"},
		{"key too long", promReq(series([]string{"__name__", "l", "v", strings.Repeat("x", 65_530)}, at(1, 1))),
			"max key length exceeded: 65554 > 65535"},
	}
	for _, tc := range cases {
		var c promConverter
		b, err := c.convert(nil, tc.req)
		if err == nil || err.Error() != tc.want || b.lines != 0 {
			t.Errorf("%s: %v, %d lines; want %q", tc.name, err, b.lines, tc.want)
		}
	}
	// A NaN sample is dropped before any check, as in InfluxDB.
	var c promConverter
	if _, err := c.convert(nil, promReq(series([]string{"__name__", "n"}, at(1<<57, math.NaN())))); err != nil {
		t.Errorf("NaN at a reserved time: %v", err)
	}
}

func TestServePromWrite(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	w := &acceptingWriter{}
	h := New(w, Options{Metrics: m, DefaultRetentionPolicy: "autogen"})
	good := encodeProm(t, promReq(series([]string{"__name__", "up", "job", "j"}, at(1000, 1), at(2000, math.NaN()))))
	badLabel := snappy.Encode(nil, []byte{0x0a, 0x04, 0x0a, 0x02, 0x00, 0x01})
	cases := []struct {
		name, target string
		body         []byte
		status       int
		msg          string
		hdr          []string
	}{
		{"good", "/api/v1/prom/write?db=d&u=x&p=y&consistency=one", good, 204, "", nil},
		// Prometheus's header, and a gzip one InfluxDB ignores as well.
		{"content encoding", "/api/v1/prom/write?db=d", good, 204, "", []string{"Content-Encoding", "gzip"}},
		{"no db", "/api/v1/prom/write", good, 400, "database is required", nil},
		{"empty", "/api/v1/prom/write?db=d", nil, 400, "snappy: corrupt input", nil},
		{"not snappy", "/api/v1/prom/write?db=d", []byte("m v=1"), 400, "snappy: corrupt input", nil},
		{"bad label", "/api/v1/prom/write?db=d", badLabel, 400, "proto: LabelPair: illegal tag 0 (wire type 0)", nil},
		{"bad consistency", "/api/v1/prom/write?db=d&consistency=x", good, 400, "invalid consistency level", nil},
		{"no series", "/api/v1/prom/write?db=d", encodeProm(t, promReq()), 204, "", nil},
		{"only NaN", "/api/v1/prom/write?db=d", encodeProm(t, promReq(series([]string{"__name__", "n"}, at(1, math.NaN())))), 204, "", nil},
		{"unrelayable", "/api/v1/prom/write?db=d", encodeProm(t, promReq(series([]string{"__name__", "n", "p", `x\`}, at(1, 1)))), 400,
			"partial write: 1 sample(s) of 1 series not relayed: a metric name or label holds a newline or ends in a backslash, which line protocol cannot carry dropped=1", nil},
	}
	for _, tc := range cases {
		before := len(w.recs)
		rr := post(h.ServePromWrite, tc.target, tc.body, tc.hdr...)
		if rr.Code != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, rr.Code, rr.Body.Bytes(), tc.status)
			continue
		}
		if tc.msg != "" {
			if got := errorText(t, rr); got != tc.msg {
				t.Errorf("%s: %q, want %q", tc.name, got, tc.msg)
			}
		}
		if tc.name != "good" && tc.name != "content encoding" && len(w.recs) != before {
			t.Errorf("%s: a record was logged", tc.name)
		}
	}
	if len(w.recs) != 2 {
		t.Fatalf("%d records, want 2", len(w.recs))
	}
	r := w.recs[0]
	if r.DB != "d" || r.RP != "autogen" || r.Auth.Username != "x" || r.Auth.Password != "y" ||
		lineproto.Precision(r.Precision) != lineproto.Nanosecond || r.Lines != 1 ||
		string(r.Body) != "up,__name__=up,job=j value=1 1000000000\n" {
		t.Errorf("record %+v body %q", r, r.Body)
	}
	if got := metricValue(m.requests.WithLabelValues("prom", "204")); got != 4 {
		t.Errorf("prom 204 requests = %v, want 4", got)
	}
	if got := metricValue(m.points.WithLabelValues("prom", "204")); got != 2 {
		t.Errorf("prom points = %v, want 2", got)
	}
	if got := metricValue(m.promSamples.WithLabelValues("nan")); got != 3 {
		t.Errorf("NaN samples = %v, want 3", got)
	}
	if h.opts.Budget.Held() != 0 {
		t.Errorf("%d bytes of the budget still held", h.opts.Budget.Held())
	}
}

// Like InfluxDB's router: POST only, OPTIONS included.
func TestPromWriteMethods(t *testing.T) {
	h := New(&acceptingWriter{}, Options{})
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodOptions} {
		rr := httptest.NewRecorder()
		h.ServePromWrite(rr, httptest.NewRequest(m, "/api/v1/prom/write?db=d", nil))
		if rr.Code != http.StatusMethodNotAllowed || rr.Header().Get("Allow") != "POST" {
			t.Errorf("%s: %d, Allow %q", m, rr.Code, rr.Header().Get("Allow"))
		}
	}
}

// A body that claims (in its snappy header) or takes, once decoded, more
// than the whole budget is refused with 413 before it is allocated.
func TestPromWriteWithinTheBudget(t *testing.T) {
	b := NewBudget(1<<20, nil)
	w := &acceptingWriter{}
	h := New(w, Options{Budget: b})
	// 30,000 one-byte labels: 240 KB on the wire, 2 MB of structs decoded.
	var labels []string
	for range 30_000 {
		labels = append(labels, "a", "b")
	}
	cases := []struct {
		name string
		body []byte
	}{
		// A snappy header that claims 4 GB.
		{"claims 4 GB", []byte{0x80, 0x80, 0x80, 0x80, 0x0f, 0x00}},
		{"many labels", encodeProm(t, promReq(series(labels)))},
	}
	for _, tc := range cases {
		rr := post(h.ServePromWrite, "/api/v1/prom/write?db=d", tc.body)
		if rr.Code != http.StatusRequestEntityTooLarge || errorText(t, rr) != "Request Entity Too Large" {
			t.Errorf("%s (%d bytes): %d %s", tc.name, len(tc.body), rr.Code, rr.Body.Bytes())
		}
		if b.Held() != 0 {
			t.Errorf("%s: %d bytes still held", tc.name, b.Held())
		}
	}
	if len(w.recs) != 0 {
		t.Errorf("%d records logged", len(w.recs))
	}
}

// FuzzPromWrite sends arbitrary protobuf (in a snappy block) to the remote
// write handler: the answer is 204 or an InfluxDB error, and whatever is
// logged is line protocol InfluxDB parses, one point per line.
func FuzzPromWrite(f *testing.F) {
	for _, req := range []*prompb.WriteRequest{
		promReq(series([]string{"__name__", "m", "a", "1"}, at(1, 1), at(2, math.NaN()))),
		promReq(series([]string{"__name__", `a\ b,c`, "k=", `v\`}, at(1<<57, 1)), series([]string{"x", "y\n"}, at(-1, -0.0))),
	} {
		b, err := req.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x04, 0x0a, 0x02, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, plain []byte) {
		w := &acceptingWriter{}
		h := New(w, Options{MaxBodySize: 1 << 20})
		rr := post(h.ServePromWrite, "/api/v1/prom/write?db=d", snappy.Encode(nil, plain))
		switch rr.Code {
		case http.StatusNoContent:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			errorText(t, rr)
		default:
			t.Fatalf("answer %d %s", rr.Code, rr.Body.Bytes())
		}
		for _, r := range w.recs {
			n := 0
			lineproto.Lines(r.Body, func(line []byte) bool {
				n++
				if !lineproto.IsPoint(line) {
					t.Fatalf("line %q is not a point", line)
				}
				if err := lineproto.ValidateLine(line); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				return true
			})
			if n != int(r.Lines) || !bytes.HasSuffix(r.Body, []byte{'\n'}) {
				t.Fatalf("%d lines, record says %d: %q", n, r.Lines, r.Body)
			}
		}
		if h.opts.Budget.Held() != 0 {
			t.Fatalf("%d bytes of the budget still held", h.opts.Budget.Held())
		}
	})
}
