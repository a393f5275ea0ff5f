package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testnats"
)

// natsBigBody is about 95 bytes per point of m v=i for seq [from, from+n).
func natsBigBody(m string, from, n int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "%s,pad=%s v=%di %d\n", m, strings.Repeat("x", 60), i, int64(1_700_000_000_000_000_000)+int64(i))
	}
	return b.String()
}

// TestNATSCapsAndOverflow: buffer-size-mb works on the (estimated) backlog
// of the shared log: with overflow = "reject" writes are refused (503)
// once a down backend's backlog reaches the cap, and accepted again when
// it drained; with "drop-oldest" the oldest records are skipped, counted
// and the backend marked diverged.
func TestNATSCapsAndOverflow(t *testing.T) {
	t.Parallel()
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	t.Run("reject", func(t *testing.T) {
		t.Parallel()
		a, b := twoBackends(t, "db")
		p := newProcGate(t, func(dataDir, addr string) string {
			return nativeConfig(dataDir, addr, natsStoreTOML(nc)+"stream-prefix = \"rej\"\n",
				`buffer-size-mb = 1, overflow = "reject"`, a, b)
		})
		g := p.asGate()
		b.Stop(t)
		refused, sent := false, 0
		for i := 0; i < 60 && !refused; i++ { // 6 MB at most
			time.Sleep(50 * time.Millisecond) // let the estimate follow the stream's size
			r := g.write(t, "db=db", natsBigBody("m", i*1000, 1000))
			switch r.Status {
			case http.StatusNoContent:
				sent += 1000
			case http.StatusServiceUnavailable:
				refused = strings.Contains(r.Body, "buffer-size-mb")
			default:
				t.Fatalf("write: %d %s", r.Status, r.Body)
			}
		}
		// A write of 1000 points is about 95 KB: refused after 1 to 2 MB.
		if !refused || sent < 10000 || sent > 20000 {
			t.Fatalf("refused=%v after %d points (about %d KB) with a 1 MB cap", refused, sent, sent*95/1000)
		}
		b.Restart(t)
		b.WaitCount(t, "db", "m", sent, 30*time.Second)
		deadline := time.Now().Add(20 * time.Second)
		for g.write(t, "db=db", "after v=1 1\n").Status != http.StatusNoContent {
			if time.Now().After(deadline) {
				t.Fatal("writes still refused after the backlog drained")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("drop-oldest", func(t *testing.T) {
		t.Parallel()
		a, b := twoBackends(t, "db")
		p := newProcGate(t, func(dataDir, addr string) string {
			return nativeConfig(dataDir, addr, natsStoreTOML(nc)+"stream-prefix = \"drop\"\n", `buffer-size-mb = 1`, a, b)
		})
		g := p.asGate()
		b.Stop(t)
		for i := range 30 { // 3 MB
			time.Sleep(20 * time.Millisecond)
			g.mustWrite(t, "db=db", natsBigBody("m", i*1000, 1000))
		}
		a.WaitCount(t, "db", "m", 30000, 30*time.Second)
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, h := g.health(t)
			c := h.Checks[1]
			if c.Dropped["overflow"] > 0 && c.DivergedSince != nil {
				t.Logf("b: %d points dropped by the overflow policy; backlog %d bytes", c.Dropped["overflow"], c.BacklogBytes)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no overflow drop counted: %+v", c)
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.Restart(t)
		p.asGate().waitCaughtUp(t, 30*time.Second)
		_, h := g.health(t)
		dropped := int(h.Checks[1].Dropped["overflow"])
		if got := b.Count(t, "db", "m"); got+dropped != 30000 {
			t.Fatalf("b holds %d points and %d were counted dropped; want 30000 together", got, dropped)
		}
	})
}
