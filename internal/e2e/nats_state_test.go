package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testnats"
)

// TestNATSDivergenceMarkOutlivesTheNodeThatSetIt: with a log in NATS, a
// backend's divergence mark is kept beside its cursor, not on the disk of
// the node that set it. Node 1 drops records for b (drop-oldest over
// buffer-size-mb) and marks it diverged; node 1 is then destroyed, disk
// and all, and node 2 — started afterwards, so it never heard node 1 —
// takes b over and shows the same mark. `influxgate resync` run with node
// 2's config finds the mark in NATS and clears it once it has copied the
// data; node 2 stops reporting it.
func TestNATSDivergenceMarkOutlivesTheNodeThatSetIt(t *testing.T) {
	t.Parallel()
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	a, b := twoBackends(t, "db")
	n1 := newNATSNode(t, nc, "buffer-size-mb = 1", a, b)
	g1 := n1.asGate()
	b.Stop(t)
	for i := range 30 { // 3 MB for b, three times its cap
		time.Sleep(20 * time.Millisecond) // let the backlog estimate follow the stream
		g1.mustWrite(t, "db=db", natsBigBody("m", i*1000, 1000))
	}
	var since time.Time
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, h := g1.health(t)
		if c := h.Checks[1]; c.Dropped["overflow"] > 0 && c.DivergedSince != nil {
			since = *c.DivergedSince
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never marked diverged: %+v", h.Checks[1])
		}
		time.Sleep(100 * time.Millisecond)
	}
	n1.destroy(t)
	t.Logf("b marked diverged since %v by node 1, which is destroyed", since)

	n2 := newNATSNode(t, nc, "buffer-size-mb = 1", a, b)
	g2 := n2.asGate()
	if d := delivererOf(t, "b", n2); d != n2 {
		t.Fatal("node 2 does not deliver to b")
	}
	_, h := g2.health(t)
	if got := h.Checks[1].DivergedSince; got == nil || !got.Equal(since) {
		t.Fatalf("node 2 reports b diverged since %v, want %v (node 1's mark)", got, since)
	}

	b.Restart(t)
	g2.waitCaughtUp(t, time.Minute)
	out, err := exec.Command(influxgateBin, "resync", "-config", n2.cfgPath, "-from", "a", "-to", "b", "-bucket", "24h").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "NATS bucket") || !strings.Contains(string(out), "cleared the divergence mark") {
		t.Fatalf("resync: %v\n%s", err, out)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, h := g2.health(t); h.Checks[1].DivergedSince == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node 2 still reports b diverged after the resync cleared the mark")
		}
		time.Sleep(100 * time.Millisecond)
	}
	identical(t, "db", a, b)
}
