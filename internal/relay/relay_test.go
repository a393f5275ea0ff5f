package relay

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/record"
)

// switchSender is a fake backend that is down (connection refused) until
// up is set, and counts the points it accepted.
type switchSender struct {
	fakeSender
	mu sync.Mutex
	up bool
}

func newSwitchSender() *switchSender {
	s := &switchSender{}
	s.answer = func(int, *backend.Batch, *record.Record) backend.Result {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.up {
			return backend.Classify(0, nil, nil, context.DeadlineExceeded)
		}
		return ok()
	}
	return s
}

func (s *switchSender) setUp() { s.mu.Lock(); s.up = true; s.mu.Unlock() }

func testOutputs(names ...string) []config.OutputConfig {
	var out []config.OutputConfig
	for _, n := range names {
		out = append(out, config.OutputConfig{Name: n, Location: "http://127.0.0.1:1/write",
			MaxBatchKB: 512, MaxDelayInterval: 50 * time.Millisecond, Timeout: time.Second})
	}
	return out
}

func openTestRelay(t *testing.T, dir string, senders map[string]Sender, outputs []config.OutputConfig) *Relay {
	t.Helper()
	r, err := New(Options{Name: "test", Dir: dir, Outputs: outputs, CursorInterval: 10 * time.Millisecond,
		WriteTimeout: 2 * time.Second,
		NewSender:    func(o config.OutputConfig) (Sender, error) { return senders[o.Name], nil }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A damaged cursor file must mean "replay from the oldest record", never
// "start at the head of the log" (issue 12, defect 1).
func TestDamagedCursorReplaysFromTheOldestRecord(t *testing.T) {
	dir := t.TempDir()
	down := newSwitchSender()
	r := openTestRelay(t, dir, map[string]Sender{"b": down}, testOutputs("b"))
	r.Start()
	var want strings.Builder
	for i := 0; i < 10; i++ {
		rec := testRecord("db", i*5, 5)
		want.Write(rec.Body)
		if a := r.Write(context.Background(), &rec, Any); a.Status != http.StatusNoContent {
			t.Fatalf("write %d: %d %s", i, a.Status, a.Body)
		}
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	cursor := filepath.Join(dir, "cursors", "b.cursor")
	if err := os.WriteFile(cursor, []byte("influxgate-cursor 1 11 deadbeef\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	up := newSwitchSender()
	up.setUp()
	r = openTestRelay(t, dir, map[string]Sender{"b": up}, testOutputs("b"))
	b := r.Stats().Backends[0]
	if b.CursorNote == "" || !strings.Contains(b.CursorNote, "damaged") {
		t.Errorf("stats say nothing of the damaged cursor: %+v", b)
	}
	if b.Backlog.Records != 10 {
		t.Errorf("backlog %d records after a damaged cursor, want all 10", b.Backlog.Records)
	}
	if got, err := os.ReadFile(cursor); err != nil || !strings.HasPrefix(string(got), "influxgate-cursor 1 1 ") {
		t.Errorf("cursor file after open = %q, %v; want the decision (index 1) stored at once", got, err)
	}
	r.Start()
	deadline := time.Now().Add(10 * time.Second)
	for up.accepted() != want.String() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := up.accepted(); got != want.String() {
		t.Errorf("backend received %d lines, want all %d", strings.Count(got, "\n"), 50)
	}
	r.Close(context.Background())
}

// A reload must not wait for writes that wait for verdicts: the worker
// set is a snapshot, and writes waiting on the replaced workers are
// answered at once with what they have.
func TestReloadDoesNotWaitForWritesInFlight(t *testing.T) {
	dir := t.TempDir()
	r := openTestRelay(t, dir, map[string]Sender{"a": hangingSender{}, "b": newSwitchSender()}, testOutputs("a"))
	r.Start()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		r.Close(ctx)
	}()
	// a is live, so the write waits for its verdict.
	rec := testRecord("db", 0, 1)
	answered := make(chan Answer, 1)
	go func() { answered <- r.Write(context.Background(), &rec, All) }()
	time.Sleep(100 * time.Millisecond)

	start := time.Now()
	if err := r.Reconfigure(testOutputs("a", "b"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("reload took %v while a write waited for verdicts", d)
	}
	select {
	case a := <-answered:
		if a.Status == http.StatusNoContent {
			t.Errorf("consistency=all answered 204 without any verdict")
		}
	case <-time.After(time.Second):
		t.Fatal("the write waiting on the replaced workers was not answered")
	}
	// Health and routing answer at once, too.
	done := make(chan struct{})
	go func() { r.Stats(); r.Freshness(); _ = r.Ready(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Stats/Freshness blocked")
	}
}

// hangingSender is a backend that never answers a write (until the request
// is cancelled), but answers pings.
type hangingSender struct{}

func (hangingSender) Write(ctx context.Context, _ *backend.Batch) backend.Result {
	<-ctx.Done()
	return backend.Classify(0, nil, nil, ctx.Err())
}

func (hangingSender) Exec(ctx context.Context, _ *record.Record) backend.Result {
	<-ctx.Done()
	return backend.Classify(0, nil, nil, ctx.Err())
}

func (hangingSender) Probe(context.Context) error { return nil }
func (hangingSender) Close()                      {}
