package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testnats"
)

// TestNATSDeadLetterReplayGoesToTheSharedLog: in nats mode the dead-letter
// store is on the node that delivered; `influxgate dead-letter replay`, run
// there with that node stopped, appends the records to the shared stream,
// and the running node (which took the backend over) delivers them. With
// the local log the replay would go to a file log nobody reads.
func TestNATSDeadLetterReplayGoesToTheSharedLog(t *testing.T) {
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
	n2.asGate().mustWrite(t, "db=only_a", "dl v=1 1\n") // a accepts: 204
	n2.asGate().mustWrite(t, "db=db", "after v=1 2\n")
	b.WaitCount(t, "db", "after", 1, 30*time.Second)
	_, h := n1.asGate().health(t)
	if h.Checks[1].DeadLetters != 1 {
		t.Fatalf("dead letters of b on its deliverer: %d, want 1", h.Checks[1].DeadLetters)
	}
	b.CreateDatabase(t, "only_a")
	if code := n1.terminate(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	out, err := exec.Command(influxgateBin, "dead-letter", "-config", n1.cfgPath, "-output", "b", "replay").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 records queued for b") {
		t.Fatalf("replay: %v %s", err, out)
	}
	// n2 delivers to b now (n1 released its lease), from the shared log.
	b.WaitCount(t, "only_a", "dl", 1, 30*time.Second)
	samePoints(t, "only_a", []string{"dl v=1 1"}, a, b)
}
