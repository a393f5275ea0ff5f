package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// bigBody is n lines of about 100 bytes each, with distinct timestamps.
func bigBody(m string, n int, ts0 int64) string {
	var b strings.Builder
	pad := strings.Repeat("x", 60)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s,host=h v=%di,pad=\"%s\" %d\n", m, i, pad, ts0+int64(i))
	}
	return b.String()
}

// (d) drop-oldest: a backend down past its cap skips its oldest records;
// every skipped point is counted and the backend is marked diverged.
func TestOverflowDropOldest(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	cfg := newConfig(t, a, b)
	cfg.HTTP[0].Outputs[1].BufferSizeMB = 1
	g := startGate(t, cfg)
	b.Stop(t)
	const reqs, lines = 30, 1000 // ~3 MB for b, three times its cap
	for i := 0; i < reqs; i++ {
		g.mustWrite(t, "db=db", bigBody("m", lines, int64(i*lines+1)))
	}
	var dropped uint64
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, h := g.health(t)
		dropped = h.Checks[1].Dropped["overflow"]
		if dropped > 0 && h.Checks[1].DivergedSince != nil && h.Checks[1].BacklogBytes <= 1<<20 {
			if status != 200 || h.Checks[1].Status != "fail" || !strings.Contains(g.logs.String(), "skipped the oldest records") {
				t.Errorf("diverged backend: /health %d, check %+v", status, h.Checks[1])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never hit its cap: %+v", h.Checks[1])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m := do(t, "GET", g.url+"/metrics", "").Body; !strings.Contains(m, `influxgate_backend_dropped_points_total{backend="b",listener="http",reason="overflow"} `+fmt.Sprint(dropped)) {
		t.Errorf("/metrics lacks the dropped count %d", dropped)
	}
	b.Restart(t)
	g.waitCaughtUp(t, time.Minute)
	if n := a.Count(t, "db", "m"); n != reqs*lines {
		t.Errorf("a holds %d points, want all %d", n, reqs*lines)
	}
	// b holds exactly what was not dropped, and it is the newest part.
	nb := b.Count(t, "db", "m")
	if uint64(nb)+dropped != reqs*lines || nb == 0 {
		t.Errorf("b holds %d points and %d were dropped; want %d in all", nb, dropped, reqs*lines)
	}
	pts := b.Points(t, "db")
	sort.Slice(pts, func(i, j int) bool { return tsOf(pts[i]) < tsOf(pts[j]) })
	if len(pts) > 0 && tsOf(pts[len(pts)-1]) != reqs*lines {
		t.Errorf("b lacks the newest point: last %q", pts[len(pts)-1])
	}
	// The mark survives a restart, and a resync clears it by deleting the file.
	g = g.restart()
	if _, h := g.health(t); h.Checks[1].DivergedSince == nil {
		t.Error("divergence forgotten across a restart")
	}
	if err := os.Remove(filepath.Join(cfg.DataDir, "http", "diverged", "b")); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, h := g.health(t); h.Checks[1].DivergedSince == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("divergence mark not cleared after its file was deleted")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tsOf(pt string) int64 {
	var ts int64
	fmt.Sscan(pt[strings.LastIndexByte(pt, ' ')+1:], &ts)
	return ts
}

// (d) reject: new writes get 503 with Retry-After while a backend is at
// its cap; nothing acknowledged is ever dropped.
func TestOverflowReject(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	cfg := newConfig(t, a, b)
	cfg.HTTP[0].Outputs[1].BufferSizeMB = 1
	cfg.HTTP[0].Outputs[1].Overflow = "reject"
	g := startGate(t, cfg)
	b.Stop(t)
	acked, refused := 0, 0
	for i := 0; i < 30; i++ {
		r := g.write(t, "db=db", bigBody("m", 1000, int64(i*1000+1)))
		switch r.Status {
		case 204:
			acked++
		case 503:
			refused++
			if !strings.Contains(r.errText(), `backlog of backend "b" is full`) {
				t.Errorf("503 body: %s", r.Body)
			}
			if r.Header.Get("Retry-After") == "" {
				t.Errorf("503 for a full backlog without Retry-After: %v", r.Header)
			}
		default:
			t.Fatalf("write %d: %d %s", i, r.Status, r.Body)
		}
	}
	if acked == 0 || refused == 0 {
		t.Fatalf("acked %d, refused %d: the cap was not reached or refused everything", acked, refused)
	}
	if status, h := g.health(t); status != 503 || h.Status != "fail" {
		t.Errorf("/health while full: %d %s", status, h.Message)
	}
	b.Restart(t)
	g.waitCaughtUp(t, time.Minute)
	if status, _ := g.health(t); status != 200 {
		t.Errorf("/health after draining: %d", status)
	}
	for _, s := range [](interface {
		Count(testing.TB, string, string) int
	}){a, b} {
		if n := s.Count(t, "db", "m"); n != acked*1000 {
			t.Errorf("a backend holds %d points, want the %d acknowledged", n, acked*1000)
		}
	}
	identical(t, "db", a, b)
	if _, h := g.health(t); len(h.Checks[1].Dropped) != 0 {
		t.Errorf("reject policy dropped points: %v", h.Checks[1].Dropped)
	}
}
