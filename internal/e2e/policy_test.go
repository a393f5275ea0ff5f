package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// Consistency levels with one backend down: any and one answer 204, all
// (and quorum of two) answer 503 after write-timeout — and the write is
// still delivered when the backend returns.
func TestConsistencyLevels(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	cfg := newConfig(t, a, b)
	cfg.WriteTimeout = time.Second
	g := startGate(t, cfg)
	g.mustWrite(t, "db=db&consistency=all", "c v=0 1\n") // both up: all is met
	b.Stop(t)
	for _, c := range []struct {
		level  string
		status int
		ts     string
	}{{"any", 204, "2"}, {"one", 204, "3"}, {"quorum", 503, "4"}, {"all", 503, "5"}} {
		r := g.write(t, "db=db&consistency="+c.level, "c v=1 "+c.ts+"\n")
		if r.Status != c.status {
			t.Errorf("consistency=%s with b down: %d %s, want %d", c.level, r.Status, r.Body, c.status)
		}
		if c.status == 503 && !strings.Contains(r.errText(), "not met") {
			t.Errorf("consistency=%s: %s", c.level, r.Body)
		}
	}
	b.Restart(t)
	g.waitCaughtUp(t, 30*time.Second)
	// Every write, 503s included, reached both backends.
	samePoints(t, "db", []string{"c v=0 1", "c v=1 2", "c v=1 3", "c v=1 4", "c v=1 5"}, a, b)
}

// A backend that answers 413 (a smaller max-body-size than influxgate's)
// gets the batch in halves, split at line boundaries, until it fits.
func TestTooLargeIsSplit(t *testing.T) {
	t.Parallel()
	a := testinflux.Start(t, testinflux.Options{})
	b := testinflux.Start(t, testinflux.Options{ExtraConfig: "[http]\nmax-body-size = 3000\n"})
	a.CreateDatabase(t, "db")
	b.CreateDatabase(t, "db")
	g := startGate(t, newConfig(t, a, b))
	g.mustWrite(t, "db=db", bigBody("big", 100, 1)) // ~10 KB: b answers 413
	g.waitCaughtUp(t, 30*time.Second)
	if n := b.Count(t, "db", "big"); n != 100 {
		t.Errorf("b holds %d of 100 points after 413 splitting", n)
	}
	identical(t, "db", a, b)
}

// Log segments every backend has passed are deleted.
func TestDeliveredSegmentsAreDeleted(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	cfg := newConfig(t, a, b)
	for i := range cfg.HTTP[0].Outputs {
		cfg.HTTP[0].Outputs[i].BufferSizeMB = 8 // 1 MiB segments
	}
	g := startGate(t, cfg)
	b.Stop(t)
	for i := 0; i < 40; i++ {
		g.mustWrite(t, "db=db", bigBody("seg", 1000, int64(i*1000+1))) // ~4 MB in all
	}
	segs := func() int {
		m, _ := filepath.Glob(filepath.Join(cfg.DataDir, "http", "log", "*.seg"))
		return len(m)
	}
	if n := segs(); n < 3 {
		t.Fatalf("only %d segments while b is down; the test needs several", n)
	}
	b.Restart(t)
	g.waitCaughtUp(t, time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for segs() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d segments remain after every backend passed them", segs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := do(t, http.MethodGet, g.url+"/metrics", ""); !strings.Contains(r.Body, `influxgate_log_segments{listener="http"} 1`) {
		t.Errorf("/metrics does not show one segment")
	}
}
