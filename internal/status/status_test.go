package status

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/relay"
)

// fakeSource is a listener whose stats the test sets.
type fakeSource struct {
	stats relay.Stats
	err   error
}

func (f *fakeSource) Stats() relay.Stats { return f.stats }
func (f *fakeSource) Ready() error       { return f.err }

// clock is a time the test steps.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestPage(t *testing.T, window time.Duration, srcs ...*fakeSource) (*Page, *clock, *uint64) {
	t.Helper()
	accepted := new(uint64)
	p := New(Options{Version: "1.2.3", Interval: time.Second, Window: window,
		Sources: func() []Source {
			out := make([]Source, len(srcs))
			for i, s := range srcs {
				out[i] = s
			}
			return out
		},
		AcceptedPoints: func() uint64 { return *accepted }})
	c := &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	p.now = c.now
	return p, c, accepted
}

func stats(appends uint64, backends ...relay.BackendStats) relay.Stats {
	s := relay.Stats{Name: "http", FirstIndex: 1, LastIndex: appends, Backends: backends}
	s.Log.Appends = appends
	return s
}

func backendStats(name string, state relay.State, backlog, delivered uint64) relay.BackendStats {
	// relay.Stats carries locations redacted (config.Location); the
	// end-to-end secret test checks every page.
	return relay.BackendStats{Name: name, Location: "http://u:xxxxx@db1:8086/write", State: state,
		Backlog: relay.Backlog{Records: backlog, Bytes: int64(backlog) * 100}, Delivered: delivered}
}

func TestSnapshotRatesTrendAndHistory(t *testing.T) {
	src := &fakeSource{}
	p, c, accepted := newTestPage(t, time.Minute, src)
	// 15 samples a second apart: a delivers 10 points/s; b is down and its
	// backlog grows by 2 records/s; 30 points/s are accepted.
	for i := range uint64(15) {
		*accepted = 30 * i
		src.stats = stats(5*i, backendStats("a", relay.StateLive, 0, 10*i), backendStats("b", relay.StateDown, 2*i, 7))
		p.Sample()
		c.t = c.t.Add(time.Second)
	}
	c.t = c.t.Add(-time.Second) // the snapshot is taken at the last sample
	snap := p.Snapshot()
	if len(snap.History.Times) != 15 || snap.History.WritePoints[0] != nil || *snap.History.WritePoints[14] != 30 {
		t.Fatalf("write history: %d samples, first %v, last %v; want 15, null, 30",
			len(snap.History.Times), snap.History.WritePoints[0], snap.History.WritePoints[14])
	}
	l := snap.Listeners[0]
	if *l.WriteRecords[14] != 5 || l.LogRecords != 70 {
		t.Errorf("listener: %v records/s, %d log records; want 5, 70", *l.WriteRecords[14], l.LogRecords)
	}
	a, b := l.Backends[0], l.Backends[1]
	if a.DeliveredRate == nil || *a.DeliveredRate != 10 || a.BacklogTrend != "steady" || a.State != "live" {
		t.Errorf("a: rate %v, trend %q, state %q; want 10, steady, live", a.DeliveredRate, a.BacklogTrend, a.State)
	}
	if b.State != "down" || b.BacklogTrend != "growing" || *b.BacklogHistory[14] != 28 || *b.DeliveredRate != 0 {
		t.Errorf("b: state %q, trend %q, backlog %v, rate %v; want down, growing, 28, 0", b.State, b.BacklogTrend,
			*b.BacklogHistory[14], *b.DeliveredRate)
	}

	// b comes back and drains its backlog: the trend turns.
	src.stats = stats(75, backendStats("a", relay.StateLive, 0, 150), backendStats("b", relay.StateReplaying, 3, 60))
	if got := p.Snapshot().Listeners[0].Backends[1].BacklogTrend; got != "shrinking" {
		t.Errorf("trend with a smaller backlog than %v ago: %q, want shrinking", TrendSpan, got)
	}
}

func TestHistoryKeepsTheWindowAndMarksMissingValues(t *testing.T) {
	src := &fakeSource{}
	p, c, _ := newTestPage(t, 5*time.Second, src)
	for i := range uint64(20) {
		bs := []relay.BackendStats{backendStats("a", relay.StateLive, 0, i)}
		if i >= 17 { // a backend added by a reload
			bs = append(bs, backendStats("c", relay.StateReplaying, i, 0))
		}
		src.stats = stats(i, bs...)
		p.Sample()
		c.t = c.t.Add(time.Second)
	}
	snap := p.Snapshot()
	if n := len(snap.History.Times); n != 6 {
		t.Fatalf("history holds %d samples, want 6 (5 s window at 1 s)", n)
	}
	for i := 1; i < len(snap.History.Times); i++ {
		if snap.History.Times[i]-snap.History.Times[i-1] != 1000 {
			t.Fatalf("history out of order: %v", snap.History.Times)
		}
	}
	c2 := snap.Listeners[0].Backends[1]
	if c2.BacklogHistory[0] != nil || c2.BacklogHistory[2] != nil || c2.BacklogHistory[3] == nil || *c2.BacklogHistory[5] != 19 {
		t.Errorf("history of the added backend: %v, want null before sample 3, 19 last", c2.BacklogHistory)
	}
	b, _ := json.Marshal(snap)
	if !bytes.Contains(b, []byte(`"backlog_records_history":[null,null,null,17,18,19]`)) {
		t.Errorf("JSON of the added backend's history: %s", b)
	}
}

func TestRateIgnoresCounterResets(t *testing.T) {
	if r := rate(10, 4, time.Second); r != nil {
		t.Errorf("rate of a counter that went back: %v, want none", *r)
	}
	if r := rate(4, 10, 2*time.Second); r == nil || *r != 3 {
		t.Errorf("rate(4, 10, 2s) = %v, want 3", r)
	}
}

func TestRoutes(t *testing.T) {
	src := &fakeSource{stats: stats(3, backendStats("a", relay.StateLive, 0, 3)), err: errors.New("write log: disk full")}
	p, _, _ := newTestPage(t, time.Minute, src)
	mux := http.NewServeMux()
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	p.Register(mux)

	cases := []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/status", 200, "text/html; charset=utf-8"},
		{"HEAD", "/status", 200, "text/html; charset=utf-8"},
		{"GET", "/status.json", 200, "application/json"},
		{"GET", "/nothing-here", 404, ""},
		{"GET", "/status/x", 404, ""},
		{"POST", "/", 405, ""},
		{"POST", "/write", 204, ""}, // not shadowed by /
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.status || (c.ctype != "" && rec.Header().Get("Content-Type") != c.ctype) {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, rec.Code, rec.Header().Get("Content-Type"), c.status, c.ctype)
		}
	}

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/status.json", nil))
	var snap Snapshot
	if err := json.Unmarshal(rec.Body.Bytes(), &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Ready || snap.Listeners[0].Ready || snap.Listeners[0].Message != "write log: disk full" || snap.Version != "1.2.3" {
		t.Errorf("status.json of a listener refusing writes: %+v", snap)
	}
}

// The page must be self-contained: no external script, style, font or
// image, and its CSP must allow exactly its own script.
func TestPageIsSelfContained(t *testing.T) {
	page := string(pageHTML)
	if n := strings.Count(page, "<script"); n != 1 {
		t.Fatalf("page has %d script elements, want 1 inline", n)
	}
	ext := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?https?:`)
	if m := ext.FindString(page); m != "" {
		t.Errorf("page loads an external asset: %q", m)
	}
	_, rest, _ := strings.Cut(page, "<script>")
	body, _, _ := strings.Cut(rest, "</script>")
	sum := sha256.Sum256([]byte(body))
	want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if !strings.Contains(pageCSP, "script-src "+want) || !strings.Contains(pageCSP, "default-src 'none'") {
		t.Errorf("CSP %q does not allow exactly the page's script %s", pageCSP, want)
	}
}

// A backend's last error is current (red on the page) while the backend
// is down, or for ErrorCurrentFor after it happened; a backend that has
// worked for longer shows it as history.
func TestLastErrorIsCurrentWhileDownOrRecent(t *testing.T) {
	src := &fakeSource{}
	p, c, _ := newTestPage(t, time.Minute, src)
	withError := func(name string, state relay.State, age time.Duration) relay.BackendStats {
		b := backendStats(name, state, 0, 0)
		b.LastError, b.LastErrorAt = "connection refused", c.t.Add(-age)
		return b
	}
	src.stats = stats(1,
		withError("down-old", relay.StateDown, 10*time.Minute),
		withError("down-new", relay.StateDown, time.Second),
		withError("live-new", relay.StateLive, ErrorCurrentFor-time.Second),
		withError("live-old", relay.StateLive, ErrorCurrentFor),
		withError("replaying-old", relay.StateReplaying, 5*time.Minute),
		backendStats("never-failed", relay.StateLive, 0, 0),
	)
	want := map[string]bool{"down-old": true, "down-new": true, "live-new": true,
		"live-old": false, "replaying-old": false, "never-failed": false}
	for _, b := range p.Snapshot().Listeners[0].Backends {
		if b.LastErrorCurrent != want[b.Name] {
			t.Errorf("%s: last_error_current = %v, want %v", b.Name, b.LastErrorCurrent, want[b.Name])
		}
	}
	// The page greys an error that is not current.
	if !regexp.MustCompile(`\.error\.old\s*\{\s*color:\s*var\(--muted\)`).Match(pageHTML) {
		t.Error(`page.html has no ".error.old { color: var(--muted) }" rule`)
	}
}
