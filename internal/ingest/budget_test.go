package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/influxgate/influxgate/internal/influxerr"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
)

// heldWriter is a fake relay that keeps every write until release is
// closed, then accepts it. It counts the writes that reached it.
type heldWriter struct {
	reached atomic.Int32
	release chan struct{}
}

func newHeldWriter() *heldWriter { return &heldWriter{release: make(chan struct{})} }

func (w *heldWriter) Write(ctx context.Context, _ *record.Record, _ relay.Consistency) relay.Answer {
	w.reached.Add(1)
	select {
	case <-w.release:
	case <-ctx.Done():
	}
	return relay.Answer{Status: http.StatusNoContent}
}

// gzipBomb returns a gzip body that inflates to at least size bytes of
// lines without timestamps, 20 KB each (so it is a few KB on the wire).
func gzipBomb(t testing.TB, size int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	value := strings.Repeat("x", 20_000)
	for n, i := 0, 0; n < size; i++ {
		k, _ := fmt.Fprintf(zw, "bomb,n=%d s=%q\n", i, value)
		n += k
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Concurrent gzip bombs (issue 12, item 4): the writes that fit in the
// budget reach the relay and get 204, the others get 503 with Retry-After
// once the short wait is over and never reach it, and neither the budget
// nor the heap grows with the number of bombs.
func TestBudgetBoundsConcurrentGzipBombs(t *testing.T) {
	const (
		limit    = 40 << 20
		inflated = 8_000_000
		requests = 10
	)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	b := NewBudget(limit, m)
	b.wait = 100 * time.Millisecond
	var freed atomic.Int32
	b.settle, b.freeOS = 10*time.Millisecond, func() { freed.Add(1) }
	w := newHeldWriter()
	h := New(w, Options{MaxBodySize: 25_000_000, Budget: b, Metrics: m})
	bomb := gzipBomb(t, inflated)

	// The heap is sampled while the bombs go off.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peakHeap, peakHeld atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peakHeap.Load() {
				peakHeap.Store(ms.HeapAlloc)
			}
			if held := uint64(b.Held()); held > peakHeld.Load() {
				peakHeld.Store(held)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()

	answers := make([]*httptest.ResponseRecorder, requests)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			answers[i] = post(h.ServeV1, "/write?db=db", bomb, "Content-Encoding", "gzip")
		})
	}
	// The refused ones are answered while the admitted ones are held.
	for end := time.Now().Add(30 * time.Second); int(w.reached.Load())+countRefused(m) < requests; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("after 30 s: %d writes reached the relay, %d refused", w.reached.Load(), countRefused(m))
		}
	}
	close(w.release)
	wg.Wait()
	close(stop)
	<-sampled

	reached := int(w.reached.Load())
	t.Logf("%d of %d reached the relay; budget peak %d MB, heap grew %d MB", reached, requests,
		peakHeld.Load()>>20, (peakHeap.Load()-base)>>20)
	if reached == 0 || reached == requests {
		t.Errorf("%d of %d writes reached the relay: want some, not all (a bomb needs about 16 MB of a 40 MiB budget)", reached, requests)
	}
	accepted := 0
	for i, a := range answers {
		switch a.Code {
		case http.StatusNoContent:
			accepted++
		case http.StatusServiceUnavailable:
			var e struct{ Error string }
			if a.Header().Get("Retry-After") != influxerr.RetryAfter || json.Unmarshal(a.Body.Bytes(), &e) != nil ||
				!strings.HasPrefix(e.Error, "write memory budget exhausted") || a.Header().Get("X-Influxdb-Error") != e.Error {
				t.Errorf("request %d: 503 without Retry-After or InfluxDB's error shape: %v %q", i, a.Header(), a.Body.Bytes())
			}
		default:
			t.Errorf("request %d: %d %q", i, a.Code, a.Body.Bytes())
		}
	}
	if accepted != reached {
		t.Errorf("%d answered 204, %d reached the relay", accepted, reached)
	}
	if got := countRefused(m); got != requests-reached {
		t.Errorf("refusal counter %d, want %d", got, requests-reached)
	}
	if p := peakHeld.Load(); p > limit {
		t.Errorf("writes held %d bytes, over the %d budget", p, limit)
	}
	// Live memory stays within the budget; the heap may hold as much
	// again in garbage the collector has not reached yet.
	if grown := peakHeap.Load() - base; grown > 5*limit/2 {
		t.Errorf("heap grew by %d MB during the bombs, want at most %d MB (2.5 x the budget)", grown>>20, 5*limit/2>>20)
	}
	if b.Held() != 0 {
		t.Errorf("%d bytes still held after every answer", b.Held())
	}
	if held, budget := gathered(t, reg, "influxgate_http_write_memory_bytes"), gathered(t, reg, "influxgate_http_write_memory_budget_bytes"); held != 0 || budget != limit {
		t.Errorf("gauges: %v bytes held of a budget of %v, want 0 of %d", held, budget, limit)
	}
	// The burst is over: its memory is handed back to the OS.
	for end := time.Now().Add(5 * time.Second); freed.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("memory not returned to the OS after the burst")
		}
	}
}

func countRefused(m *Metrics) int { return int(metricValue(m.refusals.WithLabelValues("busy"))) }

// gathered reads the one sample of a metric from reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// metricValue reads a counter or gauge.
func metricValue(c prometheus.Collector) float64 {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return 0
}
