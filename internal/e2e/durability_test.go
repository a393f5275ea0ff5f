package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// linesBody returns n lines of measurement m with distinct timestamps
// starting at ts0.
func linesBody(m string, n int, ts0 int64) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s,host=h%d v=%di,f=%d.5 %d\n", m, i%7, i, i, ts0+int64(i))
	}
	return b.String()
}

// (a) One backend stopped, thousands of points written, backend restarted:
// both hold exactly the same points.
func TestOutageThenReplayLeavesIdenticalReplicas(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	g.mustWrite(t, "db=db", linesBody("before", 10, 1))
	b.Stop(t)
	for i := 0; i < 50; i++ {
		g.mustWrite(t, "db=db", linesBody("outage", 100, int64(1000+i*100)))
	}
	b.Restart(t)
	g.mustWrite(t, "db=db", linesBody("after", 10, 1))
	g.waitCaughtUp(t, time.Minute)
	pts := identical(t, "db", a, b)
	if len(pts) != 5020 {
		t.Errorf("replicas hold %d points, want 5020", len(pts))
	}
}

// (b) The overwrite-ordering case from influxdb-relay's README: X=1 written
// while B is down, B restarted, X=2 written at the same timestamp at once.
// B must apply them in order and end with X=2 like A.
func TestOverwriteOrderSurvivesOutage(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	b.Stop(t)
	g.mustWrite(t, "db=db", "x v=1 1000\n")
	b.Restart(t)
	g.mustWrite(t, "db=db", "x v=2 1000\n")
	g.waitCaughtUp(t, time.Minute)
	samePoints(t, "db", []string{"x v=2 1000"}, a, b)
}

// (g) A clean restart of influxgate with a backlog keeps the backlog.
func TestCleanRestartKeepsBacklog(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	b.Stop(t)
	g.mustWrite(t, "db=db", linesBody("kept", 300, 1))
	g = g.restart()
	if _, h := g.health(t); h.Checks[1].BacklogRecs != 1 {
		t.Errorf("after restart, backlog of b = %d records, want 1", h.Checks[1].BacklogRecs)
	}
	b.Restart(t)
	g.waitCaughtUp(t, time.Minute)
	if pts := identical(t, "db", a, b); len(pts) != 300 {
		t.Errorf("replicas hold %d points, want 300", len(pts))
	}
}

// (f) A record one backend rejects as bad data does not block the records
// behind it, and the client still gets 204 because the other accepted it.
func TestRecordRejectedByOneBackendDoesNotBlock(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	b.Write(t, "db", "", "m v=\"a string on b only\" 1\n") // v is a string field on b
	g := startGate(t, newConfig(t, a, b))
	g.mustWrite(t, "db=db", "m v=1 2\n") // b: field type conflict
	g.mustWrite(t, "db=db", "n v=1 3\n")
	g.waitCaughtUp(t, 30*time.Second)
	samePoints(t, "db", []string{"m v=1 2", "n v=1 3"}, a)
	samePoints(t, "db", []string{`m v="a string on b only" 1`, "n v=1 3"}, b)
	_, h := g.health(t)
	if h.Checks[1].Rejected["type_conflict"] != 1 {
		t.Errorf("rejections of b: %+v", h.Checks[1].Rejected)
	}
}

// A body whose last line runs on (an open quote at the very end, which
// InfluxDB takes only as a last line) is never joined with the next record
// on replay: the next write still reaches the backend that was down.
func TestOpenEndedBodyIsNotJoinedOnReplay(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	b.Stop(t)
	r := g.write(t, "db=db", "good v=1 1\nm s=\"open")
	if r.Status != 204 && r.Status != 400 {
		t.Fatalf("open-ended body: %d %s", r.Status, r.Body)
	}
	g.mustWrite(t, "db=db", "after v=1 2\n")
	b.Restart(t)
	g.waitCaughtUp(t, 30*time.Second)
	if n := b.Count(t, "db", "after"); n != 1 {
		t.Errorf("the write after an open-ended body reached the replaying backend %d times, want 1", n)
	}
	identical(t, "db", a, b)
}
