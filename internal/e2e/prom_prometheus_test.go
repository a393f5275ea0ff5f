package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// Prometheus itself as the sender and the reader (issue 16): built into
// the cache by `make prometheus` (without the cloud service discoveries),
// found through $PROMETHEUS_BIN. Like the Telegraf tests, these skip under
// a plain `go test` when it is missing and fail under make test.
const (
	prometheusEnv     = "PROMETHEUS_BIN"
	prometheusVersion = "0.316.0" // keep in step with PROMETHEUS_VERSION in the Makefile
)

// prometheusBinary returns the Prometheus binary: $PROMETHEUS_BIN, else
// where `make prometheus` puts it.
func prometheusBinary(t testing.TB) string {
	t.Helper()
	path := os.Getenv(prometheusEnv)
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "~"
		}
		path = filepath.Join(home, ".cache", "influxgate", "prometheus-"+prometheusVersion, "prometheus")
	}
	fi, err := os.Stat(path)
	if err == nil && (fi.IsDir() || fi.Mode()&0o111 == 0) {
		err = errors.New("not an executable file")
	}
	if err != nil {
		missingClient(t, "Prometheus not usable at "+path+" ("+err.Error()+")",
			"run `make prometheus` or set "+prometheusEnv+" to a Prometheus built from github.com/prometheus/prometheus@v"+prometheusVersion)
	}
	return path
}

// prometheusProc is a Prometheus server run by a test on a loopback port.
type prometheusProc struct {
	url string
	cmd *exec.Cmd
	log string
}

// startPrometheus runs Prometheus with the config (YAML) until the test
// ends, and waits until it is ready.
func startPrometheus(t *testing.T, bin, conf string) *prometheusProc {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(testinflux.FreePort(t))
	p := &prometheusProc{url: "http://" + addr, log: filepath.Join(dir, "prometheus.log")}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "--config.file="+path, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=info")
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start Prometheus: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("Prometheus log:\n%s", clip(string(b)))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("Prometheus exited at start:\n%s", clip(string(b)))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus not ready within a minute")
		}
	}
}

// query runs an instant PromQL query at time ts and returns the matrix
// (or vector) as "labels: value@ms ..." lines, sorted.
func (p *prometheusProc) query(t *testing.T, q string, ts time.Time) []string {
	t.Helper()
	resp, err := http.PostForm(p.url+"/api/v1/query", url.Values{"query": {q},
		"time": {strconv.FormatFloat(float64(ts.UnixMilli())/1000, 'f', 3, 64)}})
	if err != nil {
		t.Fatalf("PromQL %s: %v", q, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var ans struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || ans.Status != "success" || len(ans.Warnings) > 0 {
		t.Fatalf("PromQL %s: %d %s (%v)", q, resp.StatusCode, clip(string(body)), err)
	}
	var out []string
	for _, r := range ans.Data.Result {
		names := make([]string, 0, len(r.Metric))
		for n := range r.Metric {
			names = append(names, n)
		}
		slices.Sort(names)
		var s strings.Builder
		for _, n := range names {
			s.WriteString(n + "=" + strconv.Quote(r.Metric[n]) + " ")
		}
		s.WriteString(":")
		for _, v := range r.Values {
			sec, _ := v[0].(float64)
			f, err := strconv.ParseFloat(v[1].(string), 64)
			if err != nil {
				t.Fatalf("PromQL %s: value %v: %v", q, v[1], err)
			}
			ms := int64(sec*1000 + 0.5)
			if sec < 0 {
				ms = int64(sec*1000 - 0.5)
			}
			s.WriteString(" " + strconv.FormatFloat(f, 'g', -1, 64) + "@" + strconv.FormatInt(ms, 10))
		}
		out = append(out, s.String())
	}
	slices.Sort(out)
	return out
}

// exporter is a scrape target whose metrics change on every scrape, with
// label values that need escaping in line protocol, and the values InfluxDB
// does not store (NaN, +Inf).
func exporter(t *testing.T) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE exporter_requests_total counter\n")
		for _, path := range []string{"/", "/a b,c=d", `C:\Program Files\x`, "/Zürich"} {
			for _, code := range []string{"200", "500"} {
				fmt.Fprintf(w, "exporter_requests_total{path=%q,code=%q} %d\n", path, code, i*int64(len(path)+len(code)))
			}
		}
		fmt.Fprintf(w, "# TYPE exporter_temperature gauge\nexporter_temperature{room=\"lab\"} %g\n", 20+float64(i%7)/4)
		fmt.Fprintf(w, "# TYPE exporter_odd gauge\nexporter_odd{kind=\"nan\"} NaN\nexporter_odd{kind=\"inf\"} +Inf\nexporter_odd{kind=\"one\"} 1\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// pointsUpTo returns the points (testinflux.Points) with a timestamp at or
// before cut (ns).
func pointsUpTo(t *testing.T, s *testinflux.Server, db string, cut int64) []string {
	t.Helper()
	var out []string
	for _, p := range s.Points(t, db) {
		ts, err := strconv.ParseInt(p[strings.LastIndexByte(p, ' ')+1:], 10, 64)
		if err != nil {
			t.Fatalf("point %q: %v", p, err)
		}
		if ts <= cut {
			out = append(out, p)
		}
	}
	return out
}

// Issue 16, done when: Prometheus writes through influxgate into two real
// influxd while one of them is down for a while, and writes the same
// samples straight into a third; both hold exactly what the third holds.
// Then a second Prometheus reads them back through influxgate with
// remote_read, and PromQL over it answers what a remote read of the
// third server returns.
func TestPrometheusRemoteWriteAndReadThroughInfluxgate(t *testing.T) {
	bin := prometheusBinary(t)
	v := testinflux.V1810 // InfluxDB 1.8's handling of NaN and ±Inf is what influxgate gives
	a := testinflux.Start(t, testinflux.Options{Version: v})
	b := testinflux.Start(t, testinflux.Options{Version: v})
	ref := testinflux.Start(t, testinflux.Options{Version: v})
	for _, s := range []*testinflux.Server{a, b, ref} {
		s.CreateDatabase(t, "prom")
	}
	g := startGate(t, newConfig(t, a, b))
	target := exporter(t)
	queue := `
    queue_config:
      batch_send_deadline: 200ms
      min_backoff: 50ms
      max_backoff: 500ms
    metadata_config:
      send_interval: 2s`
	writer := startPrometheus(t, bin, fmt.Sprintf(`global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
scrape_configs:
  - job_name: exporter
    static_configs:
      - targets: [%q]
remote_write:
  - name: influxgate
    url: %s/api/v1/prom/write?db=prom%s
  - name: direct
    url: %s/api/v1/prom/write?db=prom%s
`, strings.TrimPrefix(target.URL, "http://"), g.url, queue, ref.URL(), queue))
	_ = writer

	// Both replicas are written; then b is down for a while and back.
	a.WaitCount(t, "prom", "exporter_requests_total", 16, 30*time.Second)
	b.Stop(t)
	down := time.Now()
	time.Sleep(3 * time.Second)
	b.Restart(t)
	up := time.Now()
	time.Sleep(2 * time.Second)
	cut := time.Now().Add(-time.Second)

	// Prometheus sends each series in order; compare what every server
	// holds up to cut once the three agree (the queues drain at their own
	// pace).
	var want []string
	deadline := time.Now().Add(90 * time.Second)
	for {
		want = pointsUpTo(t, ref, "prom", cut.UnixNano())
		gotA := pointsUpTo(t, a, "prom", cut.UnixNano())
		gotB := pointsUpTo(t, b, "prom", cut.UnixNano())
		if slices.Equal(want, gotA) && slices.Equal(want, gotB) {
			break
		}
		if time.Now().After(deadline) {
			samePoints(t, "prom", want, a, b)
			t.Fatalf("the replicas do not hold what the direct write stored (%d points up to the cut) within 90 s", len(want))
		}
		time.Sleep(500 * time.Millisecond)
	}
	during := 0
	for _, p := range want {
		ts, _ := strconv.ParseInt(p[strings.LastIndexByte(p, ' ')+1:], 10, 64)
		if ts > down.UnixNano() && ts < up.UnixNano() && strings.HasPrefix(p, "exporter_requests_total,") {
			during++
		}
	}
	if during < 8 {
		t.Fatalf("only %d exporter_requests_total points were scraped while b was down; the outage tested nothing", during)
	}
	for _, m := range []string{`exporter_odd,__name__=exporter_odd,instance=`, `exporter_requests_total,__name__=exporter_requests_total,code=200,instance=`,
		`path=C:\Program\ Files\x`, `path=/a\ b\,c\=d`} {
		if !slices.ContainsFunc(want, func(p string) bool { return strings.Contains(p, m) }) {
			t.Errorf("no point stored has %q", m)
		}
	}
	for _, p := range want {
		if strings.Contains(p, "kind=nan") || strings.Contains(p, "kind=inf") {
			t.Errorf("a NaN or +Inf sample was stored: %s", p)
		}
	}
	t.Logf("%d points up to the cut on each server, %d of exporter_requests_total scraped during the outage", len(want), during)

	// A Prometheus with only remote_read, to influxgate: PromQL over it
	// answers with the samples a remote read of the reference returns.
	reader := startPrometheus(t, bin, fmt.Sprintf(`global:
  scrape_interval: 1m
remote_read:
  - name: influxgate
    url: %s/api/v1/prom/read?db=prom
    read_recent: true
`, g.url))
	start := cut.Add(-time.Hour)
	for _, sel := range []struct {
		promql   string
		matchers []*prompb.LabelMatcher
	}{
		{`exporter_requests_total{path="/a b,c=d"}[1h]`, []*prompb.LabelMatcher{
			{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "exporter_requests_total"},
			{Type: prompb.LabelMatcher_EQ, Name: "path", Value: "/a b,c=d"}}},
		{`{__name__=~"exporter_.+"}[1h]`, []*prompb.LabelMatcher{
			{Type: prompb.LabelMatcher_RE, Name: "__name__", Value: "exporter_.+"}}},
	} {
		// Samples up to the cut may still be on their way to all three
		// servers at once: compare again a few times before failing.
		var got, direct []string
		for attempt := 0; attempt < 5; attempt++ {
			if attempt > 0 {
				time.Sleep(time.Second)
			}
			got = reader.query(t, sel.promql, cut)
			direct = directRead(t, ref, start, cut, sel.matchers)
			if len(got) > 0 && slices.Equal(got, direct) {
				break
			}
		}
		if len(got) == 0 || !slices.Equal(got, direct) {
			t.Errorf("PromQL %s through influxgate:\n got  %d series: %s\n want %d series: %s", sel.promql,
				len(got), clip(strings.Join(got, "\n")), len(direct), clip(strings.Join(direct, "\n")))
		}
	}
}

// directRead is a remote read of s for the PromQL range (start, end]: the
// samples at start are left out, as a range selector leaves them out.
func directRead(t *testing.T, s *testinflux.Server, start, end time.Time, matchers []*prompb.LabelMatcher) []string {
	t.Helper()
	status, _, body := promRead(t, s.URL()+"/api/v1/prom/read?db=prom", promReadBody(t, start.UnixMilli(), end.UnixMilli(), matchers...))
	if status != http.StatusOK {
		t.Fatalf("remote read of %s: %d %s", s.URL(), status, body)
	}
	var out []string
	for _, series := range promDecode(t, body) {
		i := strings.LastIndex(series, " :") + 2 // labels, then the samples
		var kept strings.Builder
		kept.WriteString(series[:i])
		for _, smp := range strings.Fields(series[i:]) {
			ms, _ := strconv.ParseInt(smp[strings.IndexByte(smp, '@')+1:], 10, 64)
			if ms > start.UnixMilli() && ms <= end.UnixMilli() {
				kept.WriteString(" " + smp)
			}
		}
		out = append(out, kept.String())
	}
	slices.Sort(out)
	return out
}

// Issue 16 (G1): influxgate killed with SIGKILL again and again while
// Prometheus writes through it, one backend down for part of the time:
// what influxgate acknowledged it delivers after each restart, what it
// did not Prometheus sends again, and both backends end up with what the
// direct write stored.
func TestPrometheusRemoteWriteSurvivesKill9(t *testing.T) {
	bin := prometheusBinary(t)
	v := testinflux.V1810
	a := testinflux.Start(t, testinflux.Options{Version: v})
	b := testinflux.Start(t, testinflux.Options{Version: v})
	ref := testinflux.Start(t, testinflux.Options{Version: v})
	for _, s := range []*testinflux.Server{a, b, ref} {
		s.CreateDatabase(t, "prom")
	}
	p := newProcGate(t, func(dataDir, addr string) string {
		return nativeConfig(dataDir, addr, "", "", a, b)
	})
	target := exporter(t)
	queue := `
    queue_config:
      batch_send_deadline: 100ms
      min_backoff: 50ms
      max_backoff: 300ms`
	startPrometheus(t, bin, fmt.Sprintf(`global:
  scrape_interval: 250ms
  scrape_timeout: 200ms
scrape_configs:
  - job_name: exporter
    static_configs:
      - targets: [%q]
remote_write:
  - name: influxgate
    url: %s/api/v1/prom/write?db=prom%s
  - name: direct
    url: %s/api/v1/prom/write?db=prom%s
`, strings.TrimPrefix(target.URL, "http://"), p.url, queue, ref.URL(), queue))
	a.WaitCount(t, "prom", "exporter_requests_total", 16, 30*time.Second)
	for round := range 4 {
		if round == 1 {
			b.Stop(t)
		}
		time.Sleep(time.Duration(700+round*300) * time.Millisecond)
		p.kill()
		time.Sleep(300 * time.Millisecond) // Prometheus retries against a closed port
		p.start()
		if round == 2 {
			b.Restart(t)
		}
	}
	time.Sleep(time.Second)
	cut := time.Now().Add(-time.Second).UnixNano()
	deadline := time.Now().Add(90 * time.Second)
	for {
		want := pointsUpTo(t, ref, "prom", cut)
		gotA, gotB := pointsUpTo(t, a, "prom", cut), pointsUpTo(t, b, "prom", cut)
		if slices.Equal(want, gotA) && slices.Equal(want, gotB) {
			t.Logf("%d points up to the cut on each server", len(want))
			if len(want) < 100 {
				t.Fatalf("only %d points: the load did not run", len(want))
			}
			return
		}
		if time.Now().After(deadline) {
			samePoints(t, "prom", want, a, b)
			t.Fatalf("the replicas do not hold what the direct write stored (%d points up to the cut) within 90 s", len(want))
		}
		time.Sleep(500 * time.Millisecond)
	}
}
