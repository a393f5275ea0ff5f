package e2e

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testnats"
)

// TestNATSDeadLettersOutliveTheNodeThatStoredThem: in nats mode a
// backend's dead letters are kept in JetStream, not on the disk of the node
// that delivered. Node 1 delivers to b and dead-letters a write b refuses
// (its database exists on a only); node 1 is then destroyed, disk and all.
// Node 2 takes b over and counts the dead letter; once b has the database,
// `influxgate dead-letter replay` run with node 2's config from a fresh
// directory appends it to the shared stream, and node 2 delivers it.
func TestNATSDeadLettersOutliveTheNodeThatStoredThem(t *testing.T) {
	t.Parallel()
	nc := testnats.Start(t, testnats.Options{Servers: 3})
	a, b := twoBackends(t, "db")
	a.CreateDatabase(t, "only_a")
	node := func() *procGate {
		return newProcGate(t, func(dataDir, addr string) string {
			return nativeConfig(dataDir, addr, "dead-letter-after = \"1s\"\n"+natsStoreTOML(nc), "", a, b)
		})
	}
	n1 := node()
	delivererOf(t, "b", n1)
	n2 := node()
	// With consistency any, a refusal is the answer once every backend
	// this node counts as live has spoken; until node 2 has heard node 1
	// report a live, b's 404 alone would decide.
	waitDelivered(t, n2, "a", "b")
	n2.asGate().mustWrite(t, "db=only_a", "dl v=1 1\n") // a accepts: 204
	n2.asGate().mustWrite(t, "db=db", "after v=1 2\n")
	b.WaitCount(t, "db", "after", 1, 30*time.Second)
	_, h := n1.asGate().health(t)
	if h.Checks[1].DeadLetters != 1 {
		t.Fatalf("dead letters of b on its deliverer: %d, want 1", h.Checks[1].DeadLetters)
	}
	n1.destroy(t)
	t.Log("destroyed the node that stored b's dead letter, disk and all")
	if d := delivererOf(t, "b", n2); d != n2 {
		t.Fatal("node 2 does not deliver to b")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, h = n2.asGate().health(t)
		if h.Checks[1].DeadLetters == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2 counts %d dead letters for b, want the 1 node 1 stored", h.Checks[1].DeadLetters)
		}
		time.Sleep(100 * time.Millisecond)
	}

	b.CreateDatabase(t, "only_a")
	out, err := exec.Command(influxgateBin, "dead-letter", "-config", n2.cfgPath, "-data-dir", t.TempDir(),
		"-output", "b", "replay").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 records queued for b") {
		t.Fatalf("replay: %v %s", err, out)
	}
	b.WaitCount(t, "only_a", "dl", 1, 30*time.Second)
	samePoints(t, "only_a", []string{"dl v=1 1"}, a, b)
	// The replay ran in another process; the deliverer recounts.
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, h = n2.asGate().health(t); h.Checks[1].DeadLetters == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2 still counts %d dead letters for b after the replay", h.Checks[1].DeadLetters)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, err = exec.Command(influxgateBin, "dead-letter", "-config", n2.cfgPath, "-data-dir", t.TempDir(),
		"-output", "b", "list").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "b: 0 records") {
		t.Fatalf("list after the replay: %v %s", err, out)
	}
}

// waitDelivered waits until node p shows each named backend live and
// delivered to by some node.
func waitDelivered(t *testing.T, p *procGate, names ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := 0
		for _, c := range natsChecks(t, p) {
			if slices.Contains(names, c.Name) && c.State == "live" && c.Deliverer != "" {
				ok++
			}
		}
		if ok == len(names) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v not live on the node: %+v", names, natsChecks(t, p))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
