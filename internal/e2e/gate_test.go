package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/server"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// gate is an influxgate running in this test process.
type gate struct {
	t      testing.TB
	cfg    *config.Config
	srv    *server.Server
	url    string
	cancel context.CancelFunc
	done   chan error
	logs   *logBuffer
}

// logBuffer keeps what influxgate logged, for tests that check a report.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newConfig returns a config with one [[http]] listener on a free port in
// front of the given backends, its data dir in a temp dir.
func newConfig(t testing.TB, backends ...*testinflux.Server) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.WriteTimeout = 5 * time.Second
	cfg.ShutdownTimeout = 10 * time.Second
	h := config.HTTPConfig{Name: "http", BindAddr: "127.0.0.1:0"}
	for i, b := range backends {
		h.Outputs = append(h.Outputs, output(string(rune('a'+i)), b.WriteURL()))
	}
	cfg.HTTP = []config.HTTPConfig{h}
	cfg.ApplyDefaults()
	return &cfg
}

// output returns an output with a short max-delay-interval so that tests
// do not wait long for retries; ApplyDefaults fills the rest.
func output(name, location string) config.OutputConfig {
	return config.OutputConfig{Name: name, Location: config.Location(location), MaxDelayInterval: time.Second, Timeout: 5 * time.Second}
}

// startGate starts influxgate with cfg and stops it at cleanup.
func startGate(t testing.TB, cfg *config.Config) *gate {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, logs), &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := server.New(cfg, server.Options{Version: "test", Logger: logger})
	if err != nil {
		t.Fatalf("start influxgate: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &gate{t: t, cfg: cfg, srv: srv, url: "http://" + srv.Addrs()[0], cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { g.done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		g.stop()
		if t.Failed() && os.Getenv("INFLUXGATE_TEST_LOGS") == "" {
			t.Logf("influxgate log:\n%s", clip(logs.String()))
		}
	})
	return g
}

// stop shuts influxgate down cleanly (idempotent).
func (g *gate) stop() {
	if g.cancel == nil {
		return
	}
	g.cancel()
	g.cancel = nil
	if err := <-g.done; err != nil {
		g.t.Errorf("influxgate Run: %v", err)
	}
}

// restart stops influxgate and starts it again on the same config and
// data dir (a new port).
func (g *gate) restart() *gate {
	g.stop()
	for i := range g.cfg.HTTP {
		g.cfg.HTTP[i].BindAddr = "127.0.0.1:0"
	}
	return startGate(g.t, g.cfg)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	if os.Getenv("INFLUXGATE_TEST_LOGS") != "" {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// response is an HTTP answer as a test sees it.
type response struct {
	Status int
	Header http.Header
	Body   string
}

// errText returns the "error" of an InfluxDB JSON error body.
func (r response) errText() string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(r.Body), &e)
	return e.Error
}

func do(t testing.TB, method, url, body string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// write posts line protocol to influxgate's /write with query params.
func (g *gate) write(t testing.TB, params, body string, hdr ...string) response {
	t.Helper()
	return do(t, http.MethodPost, g.url+"/write?"+params, body, hdr...)
}

// mustWrite expects a 204.
func (g *gate) mustWrite(t testing.TB, params, body string) {
	t.Helper()
	if r := g.write(t, params, body); r.Status != http.StatusNoContent {
		t.Fatalf("write %s: %d %s", params, r.Status, r.Body)
	}
}

type healthAnswer struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Checks  []struct {
		Name          string            `json:"name"`
		Status        string            `json:"status"`
		State         string            `json:"state"`
		BacklogRecs   uint64            `json:"backlog_records"`
		BacklogBytes  int64             `json:"backlog_bytes"`
		Delivered     uint64            `json:"delivered_points"`
		Rejected      map[string]uint64 `json:"rejected_points"`
		Dropped       map[string]uint64 `json:"dropped_points"`
		DeadLetters   uint64            `json:"dead_letter_records"`
		DivergedSince *time.Time        `json:"diverged_since"`
		CursorNote    string            `json:"cursor_note"`
		Message       string            `json:"message"`
	} `json:"checks"`
}

func (g *gate) health(t testing.TB) (int, healthAnswer) {
	t.Helper()
	r := do(t, http.MethodGet, g.url+"/health", "")
	var h healthAnswer
	if err := json.Unmarshal([]byte(r.Body), &h); err != nil {
		t.Fatalf("/health: %v: %s", err, r.Body)
	}
	return r.Status, h
}

// waitCaughtUp waits until every backend has no backlog.
func (g *gate) waitCaughtUp(t testing.TB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, h := g.health(t)
		behind := false
		for _, c := range h.Checks {
			if c.BacklogRecs > 0 {
				behind = true
			}
		}
		if !behind {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backends not caught up after %v: %+v", within, h.Checks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func gzipped(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return b.String()
}

// samePoints fails unless every backend holds exactly want (canonical
// strings as testinflux.Points renders them) in db.
func samePoints(t testing.TB, db string, want []string, backends ...*testinflux.Server) {
	t.Helper()
	for i, b := range backends {
		got := b.Points(t, db)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("backend %d (%s) holds %d points, want %d:\n got: %s\nwant: %s", i, b.URL(), len(got), len(want),
				clip(strings.Join(got, "\n")), clip(strings.Join(want, "\n")))
		}
	}
}

// identical fails unless all backends hold the same points in db, and
// returns them.
func identical(t testing.TB, db string, backends ...*testinflux.Server) []string {
	t.Helper()
	first := backends[0].Points(t, db)
	samePoints(t, db, first, backends[1:]...)
	return first
}

func clip(s string) string {
	if len(s) > 2000 {
		return s[:1000] + " … " + s[len(s)-1000:]
	}
	return s
}
