package e2e

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

func (g *gate) query(t testing.TB, method string, params url.Values, hdr ...string) response {
	t.Helper()
	if method == http.MethodGet {
		return do(t, method, g.url+"/query?"+params.Encode(), "", hdr...)
	}
	return do(t, method, g.url+"/query", params.Encode(), append(hdr, "Content-Type", "application/x-www-form-urlencoded")...)
}

func TestQueriesThroughTheGateway(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "")
	g := startGate(t, newConfig(t, a, b))

	// A schema change reaches both backends, answered with InfluxDB's body.
	r := g.query(t, "POST", url.Values{"q": {"CREATE DATABASE qdb"}})
	if r.Status != 200 || strings.TrimSpace(r.Body) != `{"results":[{"statement_id":0}]}` {
		t.Fatalf("CREATE DATABASE: %d %s", r.Status, r.Body)
	}
	g.waitCaughtUp(t, 10*time.Second) // the answer came from the first backend
	for _, s := range []*testinflux.Server{a, b} {
		if !strings.Contains(string(s.Query(t, "", "SHOW DATABASES").Body), `"qdb"`) {
			t.Errorf("%s lacks qdb", s.URL())
		}
	}
	g.mustWrite(t, "db=qdb&precision=s", "cpu,host=a v=1 100\ncpu,host=b v=2 200\n")
	g.waitCaughtUp(t, 10*time.Second)

	// Reads, GET and POST, several statements, epoch.
	r = g.query(t, "GET", url.Values{"q": {"SELECT v FROM cpu; SELECT count(v) FROM cpu"}, "db": {"qdb"}, "epoch": {"s"}})
	want := `{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","v"],"values":[[100,1],[200,2]]}]},` +
		`{"statement_id":1,"series":[{"name":"cpu","columns":["time","count"],"values":[[0,2]]}]}]}`
	if r.Status != 200 || strings.TrimSpace(r.Body) != want {
		t.Errorf("SELECT: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("X-Influxgate-Backend") == "" {
		t.Error("read answer does not say which backend served it")
	}
	r = g.query(t, "POST", url.Values{"q": {"SHOW MEASUREMENTS"}, "db": {"qdb"}})
	if r.Status != 200 || !strings.Contains(r.Body, `"values":[["cpu"]]`) {
		t.Errorf("SHOW MEASUREMENTS: %d %s", r.Status, r.Body)
	}
	// Bound parameters.
	r = g.query(t, "POST", url.Values{"q": {"SELECT v FROM cpu WHERE host = $h"}, "db": {"qdb"}, "epoch": {"s"}, "params": {`{"h":"b"}`}})
	if !strings.Contains(r.Body, `[[200,2]]`) {
		t.Errorf("params: %d %s", r.Status, r.Body)
	}
	// CSV.
	r = g.query(t, "GET", url.Values{"q": {"SELECT v FROM cpu"}, "db": {"qdb"}, "epoch": {"s"}}, "Accept", "application/csv")
	if r.Status != 200 || !strings.HasPrefix(r.Body, "name,tags,time,v\ncpu,,100,1\n") {
		t.Errorf("CSV: %d %q", r.Status, r.Body)
	}
	// gzip passes through compressed.
	req, _ := http.NewRequest("GET", g.url+"/query?"+url.Values{"q": {"SHOW DATABASES"}}.Encode(), nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("gzip: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	} else if zr, err := gzip.NewReader(resp.Body); err != nil {
		t.Errorf("gzip body: %v", err)
	} else if body, _ := io.ReadAll(zr); !strings.Contains(string(body), "qdb") {
		t.Errorf("gzip body: %s", body)
	}
	resp.Body.Close()
	// Chunked answers stream as several JSON objects.
	r = g.query(t, "GET", url.Values{"q": {"SELECT v FROM cpu"}, "db": {"qdb"}, "chunked": {"true"}, "chunk_size": {"1"}})
	if n := strings.Count(r.Body, `"statement_id":0`); r.Status != 200 || n != 2 {
		t.Errorf("chunked: %d, %d chunks: %s", r.Status, n, r.Body)
	}

	// Errors are InfluxDB's.
	r = g.query(t, "GET", url.Values{"q": {"SELEC v FROM cpu"}})
	if r.Status != 400 || !strings.HasPrefix(r.errText(), "error parsing query: found SELEC, expected") {
		t.Errorf("parse error: %d %s", r.Status, r.Body)
	}
	r = g.query(t, "GET", url.Values{"db": {"qdb"}})
	if r.Status != 400 || r.errText() != `missing required parameter "q"` {
		t.Errorf("missing q: %d %s", r.Status, r.Body)
	}
	// A failed statement comes back in InfluxDB's result shape.
	r = g.query(t, "POST", url.Values{"q": {"DROP RETENTION POLICY nope ON qdb"}})
	if r.Status != 200 {
		t.Errorf("DROP RETENTION POLICY nope: %d %s", r.Status, r.Body)
	}
}

// With one backend down, CREATE DATABASE and writes into it are accepted;
// the backend applies both, in order, when it returns, and no read is
// served from it before it has caught up.
func TestSchemaChangesReachARecoveringBackendInOrder(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "")
	cfg := newConfig(t, a, b)
	// Strict: a backend with any backlog older than 10 ms gets no reads.
	// (No writes arrive during the reads below, so the live backend's own
	// lag is zero.)
	cfg.HTTP[0].Query.MaxLag = 10 * time.Millisecond
	g := startGate(t, cfg)
	b.Stop(t)
	if r := g.query(t, "POST", url.Values{"q": {"CREATE DATABASE late"}}); r.Status != 200 {
		t.Fatalf("CREATE DATABASE with b down: %d %s", r.Status, r.Body)
	}
	const total = 20000
	for i := 0; i < total/1000; i++ {
		g.mustWrite(t, "db=late", linesBody("m", 1000, int64(1+i*1000)))
	}
	b.Restart(t)
	var reads, fromB atomic.Int64
	deadline := time.Now().Add(time.Minute)
	for {
		r := g.query(t, "GET", url.Values{"q": {"SELECT count(v) FROM m"}, "db": {"late"}})
		reads.Add(1)
		if r.Header.Get("X-Influxgate-Backend") == "b" {
			fromB.Add(1)
		}
		if r.Status != 200 || !strings.Contains(r.Body, fmt.Sprintf(`"values":[["1970-01-01T00:00:00Z",%d]]`, total)) {
			t.Fatalf("read %d from %s saw %d %s: a backend served a read before it caught up",
				reads.Load(), r.Header.Get("X-Influxgate-Backend"), r.Status, clip(r.Body))
		}
		_, h := g.health(t)
		if h.Checks[1].BacklogRecs == 0 && fromB.Load() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never served a read after catching up (%d reads)", reads.Load())
		}
	}
	if n := b.Count(t, "late", "m"); n != total {
		t.Errorf("b holds %d points, want %d", n, total)
	}
}

func TestNoCaughtUpBackendAnswers503(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	a.Stop(t)
	b.Stop(t)
	g.mustWrite(t, "db=db", "m v=1 1\n") // both now have a backlog
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := g.query(t, "GET", url.Values{"q": {"SHOW DATABASES"}})
		if r.Status == 503 && strings.Contains(r.errText(), "no backend is caught up") {
			if r.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After: %v", r.Header)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("with both backends down and behind: %d %s", r.Status, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The real influx CLI works through influxgate.
func TestInfluxCLIThroughGateway(t *testing.T) {
	t.Parallel()
	cli, err := exec.LookPath("influx")
	if err != nil {
		t.Fatal("the influx CLI is missing: apt-get install influxdb-client (make test installs it)")
	}
	a, b := twoBackends(t, "")
	g := startGate(t, newConfig(t, a, b))
	host, port, _ := strings.Cut(strings.TrimPrefix(g.url, "http://"), ":")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(cli, append([]string{"-host", host, "-port", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("influx %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("-execute", "CREATE DATABASE clidb")
	if out := run("-execute", "SHOW DATABASES"); !strings.Contains(out, "clidb") {
		t.Errorf("SHOW DATABASES: %s", out)
	}
	run("-database", "clidb", "-execute", "INSERT cpu,host=x value=42 1000000000")
	g.waitCaughtUp(t, 10*time.Second)
	if out := run("-database", "clidb", "-precision", "s", "-execute", "SELECT * FROM cpu"); !strings.Contains(out, "1 ") || !strings.Contains(out, "42") {
		t.Errorf("SELECT: %s", out)
	}
	samePoints(t, "clidb", []string{"cpu,host=x value=42 1000000000"}, a, b)
}

// /api/v2/query with Flux against influxd 1.8.10 (flux-enabled).
func TestFluxQuery(t *testing.T) {
	t.Parallel()
	a := testinflux.Start(t, testinflux.Options{Version: testinflux.V1810, Flux: true})
	a.CreateDatabase(t, "fx")
	g := startGate(t, newConfig(t, a))
	g.mustWrite(t, "db=fx", fmt.Sprintf("cpu,host=h v=7 %d\n", time.Now().Add(-time.Minute).UnixNano()))
	flux := `from(bucket:"fx/autogen") |> range(start:-1h) |> filter(fn:(r) => r._measurement == "cpu")`
	r := do(t, "POST", g.url+"/api/v2/query", flux, "Content-Type", "application/vnd.flux", "Accept", "application/csv")
	if r.Status != 200 || !strings.Contains(r.Body, "_value") || !strings.Contains(r.Body, ",7,") {
		t.Errorf("flux: %d %s", r.Status, r.Body)
	}
	body, _ := json.Marshal(map[string]any{"query": flux, "type": "flux"})
	r = do(t, "POST", g.url+"/api/v2/query", string(body), "Content-Type", "application/json")
	if r.Status != 200 || !strings.Contains(r.Body, ",7,") {
		t.Errorf("flux JSON: %d %s", r.Status, r.Body)
	}
}

// A read that meets a backend gone away (connection refused) falls back to
// the next caught-up backend: every read succeeds.
func TestReadFallsBackToTheNextBackend(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	g.mustWrite(t, "db=db", "f v=1 1\n")
	g.waitCaughtUp(t, 10*time.Second)
	b.Stop(t) // no write since: influxgate still counts b as live
	for i := 0; i < 6; i++ {
		r := g.query(t, "GET", url.Values{"q": {"SELECT count(v) FROM f"}, "db": {"db"}})
		if r.Status != 200 || r.Header.Get("X-Influxgate-Backend") != "a" {
			t.Fatalf("read %d: %d from %q: %s", i, r.Status, r.Header.Get("X-Influxgate-Backend"), r.Body)
		}
	}
	if m := do(t, "GET", g.url+"/metrics", "").Body; !strings.Contains(m, `influxgate_query_backend_failures_total{backend="b"}`) {
		t.Error("the failed attempts on b are not counted")
	}
}

// A backend that goes away while nothing is written is found out by its
// worker's idle ping (every max-delay-interval, 1 s here): /health shows it
// down and reads are not sent to it; when it is back, it shows live again.
func TestIdleBackendThatStopsIsSeenDownByPing(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	waitState := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, h := g.health(t)
			if h.Checks[1].State == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("backend b is %q after 20 s with no writes, want %q", h.Checks[1].State, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitState("live")
	b.Stop(t)
	waitState("down")
	if !strings.Contains(g.logs.String(), "backend down") {
		t.Error("no log line says b went down")
	}
	for i := 0; i < 5; i++ {
		r := g.query(t, "GET", url.Values{"q": {"SHOW DATABASES"}})
		if r.Status != 200 || r.Header.Get("X-Influxgate-Backend") != "a" {
			t.Fatalf("read %d with b down: %d from %q", i, r.Status, r.Header.Get("X-Influxgate-Backend"))
		}
	}
	b.Restart(t)
	waitState("live")
	// And a write after all that reaches both.
	g.mustWrite(t, "db=db", "m v=1 1\n")
	g.waitCaughtUp(t, 20*time.Second)
	if n := b.Count(t, "db", "m"); n != 1 {
		t.Errorf("b holds %d points after coming back, want 1", n)
	}
}

// A write that arrives while an idle ping hangs is delivered without
// waiting for the ping to time out: the record cuts the ping short, and
// the backend is never marked down for it. (Fault injection: a fake that
// hangs /ping in front of a real influxd.)
func TestARecordCutsAHungPingShort(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	pb := newFakeFaultProxy(t, "b", b.URL())
	cfg := newConfig(t, a)
	cfg.HTTP[0].Outputs = append(cfg.HTTP[0].Outputs, output("b", pb.WriteURL()))
	cfg.HTTP[0].Outputs[1].Timeout = time.Minute // a ping that waited for it would mark b down
	g := startGate(t, cfg)
	pb.set(fault{Mode: modeHang, Path: "/ping"})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if injected, _, _ := pb.stats(); injected["hang"] > 0 {
			break // b's worker is in a ping that will not be answered
		}
		if time.Now().After(deadline) {
			t.Fatal("no idle ping reached b within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// consistency=all: answered once b too has the point. The write
	// timeout (5 s here) is far below the ping's minute.
	g.mustWrite(t, "db=db&consistency=all", "m v=1 1\n")
	if n := b.Count(t, "db", "m"); n != 1 {
		t.Errorf("b holds %d points, want 1", n)
	}
	if _, h := g.health(t); h.Checks[1].State != "live" {
		t.Errorf("b is %q after the write, want live", h.Checks[1].State)
	}
	if strings.Contains(g.logs.String(), "backend down") {
		t.Errorf("b was marked down for a ping cut short:\n%s", clip(g.logs.String()))
	}
}

// An influxd 1.8 with ping-auth-enabled answers an idle ping without
// credentials 401 and one with the output's own credentials 204: both
// mean the server is up, and neither output is marked down.
func TestIdlePingOfAnInfluxdWithPingAuth(t *testing.T) {
	t.Parallel()
	s := testinflux.Start(t, testinflux.Options{Version: testinflux.V1810, Auth: true,
		ExtraConfig: "[http]\nping-auth-enabled = true\nlog-enabled = true\n"})
	user, password := s.Credentials()
	cfg := newConfig(t, s, s) // a passes clients' credentials through; b has its own
	cfg.HTTP[0].Outputs[1].Username, cfg.HTTP[0].Outputs[1].Password = user, password
	logStart := int64(len(readFrom(t, s.LogPath(), 0)))
	g := startGate(t, cfg)
	deadline := time.Now().Add(20 * time.Second)
	for {
		log := readFrom(t, s.LogPath(), logStart)
		// Three of each: the start-up version probe's, then two of the
		// worker's (its second comes after it took in the first answer).
		if strings.Count(log, `"GET /ping HTTP/1.1" 401`) >= 3 && strings.Count(log, `"GET /ping HTTP/1.1" 204`) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("influxd did not see three pings answered 401 and three answered 204 within 20 s:\n%s", clip(log))
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, h := g.health(t)
	for _, c := range h.Checks {
		if c.State != "live" {
			t.Errorf("output %s is %q after its idle pings, want live", c.Name, c.State)
		}
	}
	if strings.Contains(g.logs.String(), "backend down") {
		t.Errorf("an output was marked down:\n%s", clip(g.logs.String()))
	}
}

// readFrom returns the file at path from byte off on.
func readFrom(t *testing.T, path string, off int64) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[min(off, int64(len(b))):])
}
