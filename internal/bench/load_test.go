package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func readFileString(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

func TestRunLoadCountsWhatTheSinkGot(t *testing.T) {
	for _, gz := range []bool{false, true} {
		s := startSink(t, SinkOptions{})
		bodies, err := GenerateBodies(4, 50, gz, start)
		if err != nil {
			t.Fatal(err)
		}
		var calls atomic.Int32
		res, err := RunLoad(context.Background(), LoadConfig{Addr: s.Addr(), Target: "/write?db=x", Conns: 3,
			Bodies: bodies, Gzip: gz, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond,
			OnWindow: func(bool) { calls.Add(1) }})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || res.Lines != 50*res.Requests {
			t.Errorf("gzip %v: window %d requests, %d lines", gz, res.Requests, res.Lines)
		}
		if res.TotalLines < res.Lines || res.TotalLines != 50*res.TotalRequests {
			t.Errorf("gzip %v: totals %d requests, %d lines", gz, res.TotalRequests, res.TotalLines)
		}
		var counted int64
		for _, n := range res.BodyCounts {
			counted += n
		}
		if len(res.BodyCounts) != len(bodies) || counted != res.TotalRequests {
			t.Errorf("gzip %v: body counts %v add up to %d, want %d requests", gz, res.BodyCounts, counted, res.TotalRequests)
		}
		if got := s.Stats().Lines; got != res.TotalLines {
			t.Errorf("gzip %v: sink got %d lines, load says %d were accepted", gz, got, res.TotalLines)
		}
		if res.ErrorCount() != 0 || res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 {
			t.Errorf("gzip %v: errors %v, latency %+v", gz, res.Errors, res.Latency)
		}
		if calls.Load() != 2 {
			t.Errorf("OnWindow called %d times, want 2", calls.Load())
		}
	}
}

func TestRunLoadErrors(t *testing.T) {
	bodies, err := GenerateBodies(1, 5, false, start)
	if err != nil {
		t.Fatal(err)
	}
	failing := startSink(t, SinkOptions{FailRate: 1})
	res, err := RunLoad(context.Background(), LoadConfig{Addr: failing.Addr(), Target: "/write", Conns: 2,
		Bodies: bodies, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.Errors["503"] == 0 || res.TotalErrors < res.Errors["503"] {
		t.Errorf("failing sink: %d accepted, errors %v", res.Requests, res.Errors)
	}

	down := startSink(t, SinkOptions{Down: true})
	res, err = RunLoad(context.Background(), LoadConfig{Addr: down.Addr(), Target: "/write", Conns: 1,
		Bodies: bodies, Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.Errors["refused"] == 0 {
		t.Errorf("down sink: %d accepted, errors %v", res.Requests, res.Errors)
	}
}

func TestRunLoadUnique(t *testing.T) {
	// Record every timestamp a server receives: none may repeat, although
	// every request is made from the same body.
	var mu sync.Mutex
	seen := map[string]bool{}
	dups := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		for line := range strings.Lines(string(b)) {
			ts := strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:])
			if seen[ts] {
				dups++
			}
			seen[ts] = true
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	bodies, _ := GenerateBodies(1, 10, false, start)
	res, err := RunLoad(context.Background(), LoadConfig{Addr: strings.TrimPrefix(srv.URL, "http://"), Target: "/write",
		Conns: 3, Bodies: bodies, Unique: true, Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if res.TotalRequests < 2 || int64(len(seen)) != res.TotalLines || dups != 0 {
		t.Errorf("%d requests, %d lines, %d distinct timestamps, %d repeats", res.TotalRequests, res.TotalLines, len(seen), dups)
	}
	gz, _ := GenerateBodies(1, 10, true, start)
	if _, err := RunLoad(context.Background(), LoadConfig{Addr: "127.0.0.1:1", Conns: 1, Bodies: gz, Gzip: true,
		Unique: true, Duration: time.Millisecond}); err == nil {
		t.Errorf("unique with gzip accepted")
	}
}

func TestRunLoadRejectsEmpty(t *testing.T) {
	if _, err := RunLoad(context.Background(), LoadConfig{Conns: 1, Duration: time.Second}); err == nil {
		t.Errorf("load without bodies accepted")
	}
}
