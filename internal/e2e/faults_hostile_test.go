package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// hostileCase is one bad request. want says what answer is right: either
// InfluxDB's own answer to the same bytes (sameAsInfluxDB: the request is
// sent to a real influxd too and status and error must match), or a fixed
// status and error text where influxgate answers itself.
type hostileCase struct {
	name   string
	target string // path and query, with DB where the database goes
	hdr    map[string]string
	body   []byte
	// chunked sends the body without Content-Length.
	chunked bool

	sameAsInfluxDB bool
	status         int
	errText        string // exact, or a prefix when errPrefix
	errPrefix      bool
	// stored: the good lines are stored (as InfluxDB stores those of a
	// partial write); otherwise the case's measurement must not appear.
	stored      bool
	measurement string
}

// hostileCases returns the cases; each writes into its own measurement
// (hostileNN) so that the end of the test can tell what was stored.
func hostileCases(t testing.TB) []hostileCase {
	type mk func(m string) []byte
	lines := func(f string) mk { return func(m string) []byte { return []byte(strings.ReplaceAll(f, "M", m)) } }
	gz := func(f mk) mk { return func(m string) []byte { return []byte(gzipped(t, string(f(m)))) } }
	big := func(m string) []byte { return bytes.Repeat([]byte(m+" v=1 1\n"), 1_000_000/12+1) } // > 1 MB
	plain := lines("M v=1 1\nM v=2 2\n")
	cases := []struct {
		c    hostileCase
		body mk
	}{
		{hostileCase{name: "oversized body", target: "/write?db=DB", status: 413, errText: "Request Entity Too Large"}, big},
		{hostileCase{name: "oversized chunked body", target: "/write?db=DB", chunked: true,
			status: 413, errText: "Request Entity Too Large"}, big},
		{hostileCase{name: "gzip bomb over the limit", target: "/write?db=DB", hdr: map[string]string{"Content-Encoding": "gzip"},
			status: 413, errText: "Request Entity Too Large"}, gz(big)},
		{hostileCase{name: "plain body sent as gzip", target: "/write?db=DB", hdr: map[string]string{"Content-Encoding": "gzip"},
			sameAsInfluxDB: true}, plain},
		{hostileCase{name: "truncated gzip", target: "/write?db=DB", hdr: map[string]string{"Content-Encoding": "gzip"},
			sameAsInfluxDB: true}, func(m string) []byte { return gz(plain)(m)[:20] }},
		{hostileCase{name: "gzip body without the header", target: "/write?db=DB",
			status: 400, errText: "unable to parse", errPrefix: true}, gz(plain)},
		{hostileCase{name: "CRLF with timestamps", target: "/write?db=DB", sameAsInfluxDB: true},
			lines("M v=1 1\r\nM v=2 2\r\n")},
		// influxgate stamps the line at receipt, after the \r that stays in
		// it: InfluxDB refuses it as it refuses the unstamped line, and
		// influxgate quotes it without the stamp, as the client sent it.
		{hostileCase{name: "CRLF without timestamps", target: "/write?db=DB", sameAsInfluxDB: true},
			lines("M v=1\r\nM v=2\r\n")},
		{hostileCase{name: "NUL bytes in lines", target: "/write?db=DB", sameAsInfluxDB: true, stored: true},
			lines("M v=1 1\x00\x00\nM v=2 2\nM,t=\x00 v=3 3\n")},
		// InfluxDB quotes the whole 70 KB line; influxgate passes on the
		// first 64 KiB of its error, still as JSON.
		{hostileCase{name: "series key over 64 KB", target: "/write?db=DB",
			status: 400, errText: "unable to parse 'M,k=xxxxxxxx", errPrefix: true},
			lines("M,k=" + strings.Repeat("x", 70_000) + " v=1 1\n")},
		{hostileCase{name: "500 KB string field", target: "/write?db=DB", sameAsInfluxDB: true, stored: true},
			lines("M s=\"" + strings.Repeat("y", 500_000) + "\" 1\n")},
		{hostileCase{name: "unknown parameters", target: "/write?db=DB&foo=bar&chunked=maybe&rp=", sameAsInfluxDB: true, stored: true},
			plain},
		{hostileCase{name: "invalid precision", target: "/write?db=DB&precision=us",
			status: 400, errText: `invalid precision "us" (use n, u, ms, s, m or h)`}, plain},
		{hostileCase{name: "invalid v2 precision", target: "/api/v2/write?bucket=DB&precision=h",
			status: 400, errText: `invalid precision "h" (use ns, us, ms or s)`}, plain},
		{hostileCase{name: "invalid consistency", target: "/write?db=DB&consistency=most", sameAsInfluxDB: true}, plain},
		{hostileCase{name: "missing db", target: "/write", sameAsInfluxDB: true}, plain},
		{hostileCase{name: "query without q", target: "/query?db=DB", sameAsInfluxDB: true}, nil},
		{hostileCase{name: "query parse error", target: "/query?db=DB&q=" + url.QueryEscape("SELEC * FROM x"), sameAsInfluxDB: true}, nil},
	}
	out := make([]hostileCase, len(cases))
	for i, c := range cases {
		c.c.measurement = fmt.Sprintf("hostile%02d", i)
		if c.body != nil {
			c.c.body = c.body(c.c.measurement)
		}
		c.c.errText = strings.ReplaceAll(c.c.errText, "M", c.c.measurement)
		out[i] = c.c
	}
	return out
}

// Hostile requests get InfluxDB's answer (or influxgate's documented one),
// a Go client can always read it, and none of them disturbs a concurrent
// writer or the backlog queued for a backend that is down.
func TestHostileRequests(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, loadDB)
	ref := testinflux.Start(t, testinflux.Options{}) // the reference: influxd itself
	ref.CreateDatabase(t, loadDB)
	cfg := newConfig(t, a, b)
	cfg.MaxBodySize = 1_000_000
	g := startGate(t, cfg)
	b.Stop(t) // b gets a backlog that must come through untouched

	l := &ledger{}
	load := newLoadGen(g.url, l, 20, 20*time.Millisecond)
	load.start(2)
	load.waitAcks(t, 200, 30*time.Second)

	gateAddr := strings.TrimPrefix(g.url, "http://")
	for _, c := range hostileCases(t) {
		target := strings.ReplaceAll(c.target, "DB", loadDB)
		method := http.MethodPost
		if strings.HasPrefix(target, "/query") {
			method = http.MethodGet
		}
		// A refusal is passed on when the live backends give it; a is the
		// only one, and must not be behind at this moment on a busy machine.
		waitLive(t, g, "a")
		got := rawRequest(t, gateAddr, method, target, c.hdr, c.body, c.chunked)
		want := rawAnswer{Status: c.status, Body: relayErrorBody(c.errText)}
		if c.sameAsInfluxDB {
			want = rawRequest(t, ref.Addr(), method, target, c.hdr, c.body, c.chunked)
		}
		switch {
		case got.Status != want.Status:
			t.Errorf("%s: status %d, want %d (%s)", c.name, got.Status, want.Status, short(got.Body))
		case c.errPrefix && !strings.HasPrefix(got.errText(), c.errText):
			t.Errorf("%s: error %q, want it to start with %q", c.name, short(got.Body), c.errText)
		case !c.errPrefix && got.errText() != want.errText():
			t.Errorf("%s: error %s (%d bytes), want %s (%d bytes)", c.name, short(got.Body), len(got.Body), short(want.Body), len(want.Body))
		}
		if got.Status >= 400 {
			if h := got.Headers["X-Influxdb-Error"]; h == "" || strings.ContainsFunc(h, func(r rune) bool { return r < 0x20 && r != '\t' }) {
				t.Errorf("%s: X-Influxdb-Error %q is missing or holds control bytes", c.name, h)
			}
		}
		if got.Status == http.StatusRequestEntityTooLarge && got.Headers["Connection"] != "close" {
			t.Errorf("%s: 413 without Connection: close", c.name)
		}
		// And Go's own client can read every answer.
		if _, err := goClientDo(g.url, method, target, c.hdr, c.body); err != nil {
			t.Errorf("%s: a Go client cannot read influxgate's answer: %v", c.name, err)
		}
	}

	load.halt()
	b.Restart(t)
	g.waitCaughtUp(t, time.Minute)
	audit(t, l.snapshot(), []auditBackend{{name: "a", server: a}, {name: "b", server: b}}, nil)
	// What InfluxDB refuses outright was never stored; what it stores in
	// part is stored the same on both replicas.
	for _, c := range hostileCases(t) {
		q := "SELECT * FROM " + testinflux.QuoteIdent(c.measurement)
		ra, rb := a.Query(t, loadDB, q), b.Query(t, loadDB, q)
		if string(ra.Body) != string(rb.Body) {
			t.Errorf("%s: replicas differ:\n a: %s\n b: %s", c.name, short(ra.Body), short(rb.Body))
		}
		if has := strings.Contains(string(ra.Body), `"series"`); has != c.stored {
			t.Errorf("%s: stored = %v, want %v: %s", c.name, has, c.stored, short(ra.Body))
		}
	}
}

// waitLive waits until backend name is caught up (live).
func waitLive(t testing.TB, g *gate, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, h := g.health(t)
		for _, c := range h.Checks {
			if c.Name == name && c.State == "live" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend %s not live within 30s: %+v", name, h.Checks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// short clips a body for a log line.
func short(b []byte) string {
	if len(b) > 300 {
		return fmt.Sprintf("%q … (%d bytes)", b[:300], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// relayErrorBody is InfluxDB's JSON error body for msg.
func relayErrorBody(msg string) []byte {
	if msg == "" {
		return nil
	}
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}

// goClientDo sends a request with net/http and reads the answer whole.
func goClientDo(base, method, target string, hdr map[string]string, body []byte) (int, error) {
	req, err := http.NewRequest(method, base+target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return resp.StatusCode, err
}
