package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A database that exists on one replica only: the other backend moves the
// write to its dead-letter store (without blocking the writes behind it),
// /health shows it, and a replay after the schema is fixed delivers it.
func TestDeadLetterAndReplay(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	a.CreateDatabase(t, "only_a")
	p := newProcGate(t, func(dataDir, addr string) string {
		return nativeConfig(dataDir, addr, `dead-letter-after = "1s"`, "", a, b)
	})
	g := p.asGate()
	g.mustWrite(t, "db=only_a", "dl v=1 1\n") // a accepts: 204
	g.mustWrite(t, "db=db", "after v=1 2\n")
	g.waitCaughtUp(t, 30*time.Second)
	if n := b.Count(t, "db", "after"); n != 1 {
		t.Fatalf("the write behind the refused one did not reach b")
	}
	_, h := g.health(t)
	if h.Checks[1].DeadLetters != 1 || h.Checks[0].DeadLetters != 0 {
		t.Fatalf("dead letters: a %d, b %d; want 0 and 1", h.Checks[0].DeadLetters, h.Checks[1].DeadLetters)
	}
	// Fix the schema, then replay with influxgate stopped.
	b.CreateDatabase(t, "only_a")
	if code := p.terminate(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	cli := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(influxgateBin, append([]string{"dead-letter", "-config", p.cfgPath, "-output", "b"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("dead-letter %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := cli("list"); !strings.Contains(out, "b: 1 records") {
		t.Errorf("list: %s", out)
	}
	if out := cli("replay"); !strings.Contains(out, "1 records queued for b") {
		t.Errorf("replay: %s", out)
	}
	p.start()
	g.waitCaughtUp(t, 30*time.Second)
	samePoints(t, "only_a", []string{"dl v=1 1"}, a, b)
	if _, h := g.health(t); h.Checks[1].DeadLetters != 0 {
		t.Errorf("dead letters after replay: %d", h.Checks[1].DeadLetters)
	}
	// While influxgate runs it holds the data dir: the command refuses.
	out, err := exec.Command(influxgateBin, "dead-letter", "-config", p.cfgPath, "-output", "b", "list").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another influxgate") {
		t.Errorf("dead-letter list while running: %v %s", err, out)
	}
}

// A write to a database no replica has is refused unanimously: the client
// gets InfluxDB's 404 and nothing lands in a dead-letter store.
func TestUnanimousRefusalIsNotDeadLettered(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	r := g.write(t, "db=nowhere", "x v=1 1\n")
	if r.Status != 404 || r.errText() != `database not found: "nowhere"` {
		t.Fatalf("write to a missing database: %d %s", r.Status, r.Body)
	}
	g.mustWrite(t, "db=db", "y v=1 1\n")
	g.waitCaughtUp(t, 10*time.Second)
	_, h := g.health(t)
	for _, c := range h.Checks {
		if c.DeadLetters != 0 || c.Rejected["db_not_found"] != 1 {
			t.Errorf("%s: dead letters %d, rejected %v", c.Name, c.DeadLetters, c.Rejected)
		}
	}
}
