package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// flood posts batches of load points from many writers at once, without
// pause, until stop is closed; it returns the answers by status.
func flood(t testing.TB, url string, l *ledger, writers, batch int, stop <-chan struct{}) map[string]int {
	t.Helper()
	var mu sync.Mutex
	statuses := map[string]int{}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 60 * time.Second}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body bytes.Buffer
			for {
				select {
				case <-stop:
					return
				default:
				}
				first := l.reserve(batch)
				body.Reset()
				for i := first; i < first+int64(batch); i++ {
					fmt.Fprintf(&body, "%s,w=%d v=%di %d\n", loadMeasurement, w, i, loadBase+i)
				}
				resp, err := client.Post(url+"/write?db="+loadDB, "text/plain", bytes.NewReader(body.Bytes()))
				key := "error"
				o := unanswered
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					key = fmt.Sprint(resp.StatusCode)
					o = refused
					if resp.StatusCode == http.StatusNoContent {
						o = acked
					} else if resp.StatusCode == http.StatusServiceUnavailable && !strings.Contains(string(b), `"error":"backlog of backend`) {
						key += " (unexpected body: " + string(b) + ")"
					}
				}
				l.settle(first, batch, o)
				mu.Lock()
				statuses[key]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return statuses
}

// A flood of writes while a backend is down and its backlog is capped with
// overflow = reject: influxgate answers 503 once the cap is reached, never
// 204 for what it will not deliver, and delivers every acknowledged point
// to both backends when the backend returns.
func TestFaultFloodWithRejectPolicy(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, loadDB)
	cfg := newConfig(t, a, b)
	for i := range cfg.HTTP[0].Outputs {
		cfg.HTTP[0].Outputs[i].BufferSizeMB = 1
		cfg.HTTP[0].Outputs[i].Overflow = "reject"
	}
	g := startGate(t, cfg)
	b.Stop(t)
	l := &ledger{}
	stop := make(chan struct{})
	done := make(chan map[string]int)
	go func() { done <- flood(t, g.url, l, 64, 400, stop) }()
	// Run until the cap has turned writes away for a while.
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, h := g.health(t)
		if status == http.StatusServiceUnavailable && strings.Contains(h.Message, "backlog of backend \"b\" is full") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backlog cap never refused writes: %d %+v", status, h)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	close(stop)
	statuses := <-done
	t.Logf("flood answers: %s", formatCounts(statuses))
	for k := range statuses {
		if k != "204" && k != "503" {
			t.Errorf("answer %q under the flood; want only 204 and 503", k)
		}
	}
	if statuses["503"] == 0 {
		t.Error("no write was refused")
	}
	b.Restart(t)
	g.waitCaughtUp(t, 2*time.Minute)
	audit(t, l.snapshot(), []auditBackend{{name: "a", server: a}, {name: "b", server: b}}, nil)
}

// overflow = drop-oldest: a backend down with a capped backlog loses its
// oldest records, and exactly the points it lost are counted on /health,
// which marks it diverged; the other replica has everything.
func TestFaultDropOldestIsCounted(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, loadDB)
	cfg := newConfig(t, a, b)
	cfg.HTTP[0].Outputs[1].BufferSizeMB = 1 // b only; drop-oldest is the default
	g := startGate(t, cfg)
	b.Stop(t)
	l := &ledger{}
	for i := 0; i < 120; i++ { // ~4 MB of points
		first := l.reserve(1000)
		r := g.write(t, "db="+loadDB, loadBody(first, 1000))
		if r.Status != http.StatusNoContent {
			t.Fatalf("write %d: %d %s", i, r.Status, r.Body)
		}
		l.settle(first, 1000, acked)
	}
	b.Restart(t)
	g.waitCaughtUp(t, 2*time.Minute)
	status, h := g.health(t)
	hb := h.Checks[1]
	dropped := hb.Dropped["overflow"]
	if dropped == 0 || hb.DivergedSince == nil || hb.Status != "fail" {
		t.Fatalf("b after overflow: %d %+v", status, hb)
	}
	rows := audit(t, l.snapshot(), []auditBackend{{name: "a", server: a}, {name: "b", server: b, dropped: dropped}}, nil)
	if rows[0].missing != 0 || uint64(rows[1].missing) != dropped {
		t.Errorf("b misses %d points, influxgate counted %d dropped; a misses %d", rows[1].missing, dropped, rows[0].missing)
	}
	if r := do(t, http.MethodGet, g.url+"/metrics", ""); !strings.Contains(r.Body,
		fmt.Sprintf(`influxgate_backend_dropped_points_total{backend="b",listener="http",reason="overflow"} %d`, dropped)) {
		t.Errorf("/metrics does not count the %d dropped points", dropped)
	}
}
