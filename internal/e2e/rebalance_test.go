package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// measurementLoad makes batches of points over many measurements, each
// with a new time, plus an overwrite of a point written a few batches
// earlier with a new value (the race a copy must not lose), and a new
// measurement every five batches (keys first written during the
// rebalance).
func measurementLoad(base int64, measurements int) func(batch int) []string {
	var history []string
	return func(batch int) []string {
		var lines []string
		for j := 0; j < 8; j++ {
			seq := batch*8 + j
			lines = append(lines, fmt.Sprintf("m%03d,host=h%d v=%di %d", (seq*7)%measurements, seq%3, seq, base+int64(seq)*1000))
		}
		lines = append(lines, fmt.Sprintf("new%03d,host=h0 v=%di %d", batch/5, batch, base+int64(batch)*1000+1))
		if len(history) > 40 {
			old := history[len(history)-40]
			k, _, _ := strings.Cut(old, " ")
			ts := old[strings.LastIndexByte(old, ' ')+1:]
			lines = append(lines, fmt.Sprintf("%s v=%di %s", k, -batch, ts))
		}
		history = append(history, lines...)
		return lines
	}
}

// Adding a third shard to a listener sharded by measurement: a dry run
// lists the moves and changes nothing; then, while writes (and overwrites)
// keep coming through influxgate, `influxgate rebalance` creates the
// schema on the new shard, influxgate is restarted with the new config,
// and the rebalance moves every measurement the new shard owns. At the end
// every point acknowledged is on exactly its owner's replicas, with its
// last value, none is lost or doubled, the placement is the new one and
// /health no longer reports a rebalance.
func TestRebalanceAddShardByMeasurement(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := newRebalanceCluster(t, "measurement", "db", []string{"s1", "s2", "s3"}, 2)
	for _, s := range append(c.servers["s1"], c.servers["s2"]...) {
		s.Exec(t, `CREATE RETENTION POLICY "week" ON "db" DURATION 7d REPLICATION 1`)
	}
	g := c.gate.asGate()
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Hour).UnixNano()
	want := map[string]string{}
	var body []string
	for m := 0; m < 90; m++ {
		for p := 0; p < 4; p++ {
			body = append(body, fmt.Sprintf("m%03d,host=h%d v=%di %d", m, p, m*10+p, base-int64(p+1)*int64(time.Hour)))
		}
	}
	g.mustWrite(t, "db=db", strings.Join(body, "\n"))
	for _, l := range body {
		want[pointKey(l)] = l
	}
	g.waitCaughtUp(t, 30*time.Second)

	c.configure([]string{"s1", "s2", "s3"})
	placement, _ := os.ReadFile(filepath.Join(c.listenerDir(), "placement"))
	code, out := c.rebalance("-dry-run")
	if code != 0 || !strings.Contains(out, "would move from shards [s1 s2] to [s1 s2 s3]") || !strings.Contains(out, "db.m0") {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	moving := strings.Count(out, " s3 ")
	if moving < 15 || moving > 50 {
		t.Errorf("dry run lists %d keys moving to s3, want about a third of 90", moving)
	}
	if after, _ := os.ReadFile(filepath.Join(c.listenerDir(), "placement")); string(after) != string(placement) {
		t.Errorf("dry run changed the placement: %s -> %s", placement, after)
	}
	if _, err := os.Stat(filepath.Join(c.listenerDir(), "rebalance")); !os.IsNotExist(err) {
		t.Errorf("dry run started a rebalance: %v", err)
	}
	for _, s := range c.servers["s3"] {
		if r := s.Query(t, "", "SHOW DATABASES"); strings.Contains(string(r.Body), `"db"`) {
			t.Errorf("dry run created the database on the new shard: %s", r.Body)
		}
	}

	load := startLoadParams(t, c.gate.url, "db=db&consistency=all", want, measurementLoad(base, 90))
	// Reads stay exact all the way through: the count of every
	// measurement equals what was acknowledged, whichever shard serves it.
	reads := startReadChecker(t, c.gate.url, load,
		fmt.Sprintf("SELECT count(v) FROM /.*/ WHERE time >= %d AND time < %d", base-10*int64(time.Hour), base+int64(time.Hour)),
		func(acked map[string]string) map[string]int {
			n := map[string]int{}
			for k := range acked {
				m, _, _ := strings.Cut(k, ",")
				n[m]++
			}
			return n
		})
	// The documented order: the rebalance first (it creates the schema on
	// the new shard and records the rebalance), then influxgate restarted
	// with the new config; the tool waits for it.
	_, wait := c.startRebalance()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(c.listenerDir(), "rebalance", "state")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rebalance did not start within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.restart()
	code, out = wait()
	reads.finish()
	load.finish()
	if code != 0 || !strings.Contains(out, "rebalance finished") {
		t.Fatalf("rebalance: %d", code)
	}
	for _, s := range c.servers["s3"] {
		if r := s.Query(t, "", `SHOW RETENTION POLICIES ON "db"`); !strings.Contains(string(r.Body), `"week"`) {
			t.Errorf("retention policy week not created on the new shard: %s", r.Body)
		}
	}
	c.checkInPlace(want)
	if code, out := c.rebalance(); code != 0 || !strings.Contains(out, "nothing to move") {
		t.Errorf("a second rebalance: %d %s", code, out)
	}
	t.Logf("test took %s", time.Since(start).Round(time.Millisecond))
}

// tagLoad makes batches of orders with many customers, lines without the
// customer tag, and values that need escaping.
func tagLoad(base int64) func(batch int) []string {
	rnd := rand.New(rand.NewPCG(1, 2))
	return func(batch int) []string {
		var lines []string
		for j := 0; j < 8; j++ {
			seq := batch*8 + j
			ts := base + int64(seq)*1000
			switch r := rnd.IntN(10); {
			case r == 0:
				lines = append(lines, fmt.Sprintf("orders,region=us v=%di %d", seq, ts))
			case r == 1:
				lines = append(lines, fmt.Sprintf(`events,customer=c\ x,kind=deploy v=%di %d`, seq, ts))
			default:
				lines = append(lines, fmt.Sprintf("orders,customer=c%02d,region=eu v=%di %d", rnd.IntN(60), seq, ts))
			}
		}
		return lines
	}
}

// Tag sharding, with a crash of each side: influxgate is restarted with a
// third shard first (it starts the rebalance; writes that reach the new
// shard before its database exists are refused and retried), the
// rebalance runs slowly and is killed with SIGKILL after some keys are
// done and others not; a second run resumes, influxgate is killed with
// SIGKILL under it and restarted, and the second run waits for it and
// finishes with every point in place.
func TestRebalanceByTagResumesAfterKill9(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := newRebalanceCluster(t, "tag:customer", "db", []string{"s1", "s2", "s3"}, 2)
	g := c.gate.asGate()
	base := time.Now().Add(-3 * time.Hour).Truncate(time.Hour).UnixNano()
	want := map[string]string{}
	var body []string
	for i := 0; i < 60; i++ {
		for p := 0; p < 5; p++ {
			body = append(body, fmt.Sprintf("orders,customer=c%02d,region=eu v=%di %d", i, i*10+p, base-int64(p+1)*int64(time.Hour)))
		}
	}
	for p := 0; p < 5; p++ {
		body = append(body, fmt.Sprintf("orders,region=us v=%di %d", p, base-int64(p+1)*int64(time.Minute)),
			fmt.Sprintf(`events,customer=it's,kind=x v=%di %d`, p, base-int64(p+1)*int64(time.Minute)))
	}
	g.mustWrite(t, "db=db", strings.Join(body, "\n"))
	for _, l := range body {
		want[pointKey(l)] = l
	}
	g.waitCaughtUp(t, 30*time.Second)

	load := startLoadParams(t, c.gate.url, "db=db&consistency=all", want, tagLoad(base))
	// Counts per customer (grouped by the shard tag, merged) and of all
	// orders (summed across shards, stray copies of moving customers left
	// out) stay exact all the way through.
	window := fmt.Sprintf("time >= %d AND time < %d", base-10*int64(time.Hour), base+int64(time.Hour))
	perCustomer := startReadChecker(t, c.gate.url, load, "SELECT count(v) FROM orders WHERE "+window+" GROUP BY customer",
		func(acked map[string]string) map[string]int {
			n := map[string]int{}
			for k := range acked {
				if !strings.HasPrefix(k, "orders,") {
					continue
				}
				cust := ""
				if _, after, ok := strings.Cut(k, "customer="); ok {
					cust = after[:strings.IndexAny(after+" ", ", ")]
				}
				n["orders,customer="+cust]++
			}
			return n
		})
	allOrders := startReadChecker(t, c.gate.url, load, "SELECT count(v) FROM orders WHERE "+window,
		func(acked map[string]string) map[string]int {
			n := 0
			for k := range acked {
				if strings.HasPrefix(k, "orders,") {
					n++
				}
			}
			return map[string]int{"orders": n}
		})
	c.configure([]string{"s1", "s2", "s3"})
	c.restart() // influxgate starts the rebalance itself
	if _, err := os.Stat(filepath.Join(c.listenerDir(), "rebalance", "state")); err != nil {
		t.Fatalf("influxgate did not start the rebalance: %v", err)
	}

	// Slowly (each key takes a second or more), so that it can be killed
	// part-way.
	cmd, wait := c.startRebalance("-rate", "40", "-batch", "20")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if done, _ := c.movedKeys(); done >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rebalance moved fewer than 3 keys in 2 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	code, _ := wait()
	done, cleared := c.movedKeys()
	t.Logf("killed the rebalance (exit %d) with %d keys done, %d cleared", code, done, cleared)
	if _, err := os.Stat(filepath.Join(c.listenerDir(), "rebalance", "state")); err != nil {
		t.Fatalf("the killed rebalance finished already: %v", err)
	}

	// The second run resumes; influxgate is killed under it and
	// restarted, and it waits for influxgate and goes on.
	_, wait = c.startRebalance("-rate", "40", "-batch", "20")
	for {
		if d, _ := c.movedKeys(); d >= done+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second run moved no key")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.gate.kill()
	time.Sleep(time.Second)
	c.gate.start()
	code, out := wait()
	perCustomer.finish()
	allOrders.finish()
	load.finish()
	if code != 0 || !strings.Contains(out, "resuming the rebalance") || !strings.Contains(out, "rebalance finished") {
		t.Fatalf("second run: %d", code)
	}
	c.checkInPlace(want)
	for _, s := range c.servers["s3"] {
		if n := len(s.Points(t, "db")); n == 0 {
			t.Errorf("the new shard holds no points")
		}
	}
	t.Logf("test took %s", time.Since(start).Round(time.Millisecond))
}

// Retiring a shard: with retire = true it owns no keys, the rebalance
// moves all its data to the others, and the shard can then be removed
// from the config (influxgate refuses to start without it before).
func TestRebalanceRetiresAShard(t *testing.T) {
	t.Parallel()
	c := newRebalanceCluster(t, "measurement", "db", []string{"s1", "s2", "s3"}, 3)
	g := c.gate.asGate()
	base := time.Now().Add(-time.Hour).Truncate(time.Hour).UnixNano()
	want := map[string]string{}
	var body []string
	for m := 0; m < 45; m++ {
		for p := 0; p < 3; p++ {
			body = append(body, fmt.Sprintf("m%03d,host=h%d v=%di %d", m, p, m*10+p, base+int64(p)))
		}
	}
	g.mustWrite(t, "db=db", strings.Join(body, "\n"))
	for _, l := range body {
		want[pointKey(l)] = l
	}
	g.waitCaughtUp(t, 30*time.Second)
	if len(c.servers["s3"][0].Points(t, "db")) == 0 {
		t.Fatal("shard s3 got no data to retire")
	}

	// Removing a shard that holds data is refused.
	c.configure([]string{"s1", "s2"})
	if code := c.gate.terminate(); code != 0 {
		t.Fatalf("influxgate exited %d", code)
	}
	if out, err := runOutput(influxgateBin, "-config", c.gate.cfgPath); err == nil || !strings.Contains(out, `s3\" holds data but is not in the config`) {
		t.Fatalf("influxgate started without a shard that holds data: %v\n%s", err, clip(out))
	}

	c.configure([]string{"s1", "s2", "s3"}, "s3")
	c.gate.start()
	if code, out := c.rebalance(); code != 0 || !strings.Contains(out, "rebalance finished") {
		t.Fatalf("rebalance: %d", code)
	}
	for _, s := range c.servers["s3"] {
		if pts := s.Points(t, "db"); len(pts) != 0 {
			t.Errorf("retired shard still holds %d points", len(pts))
		}
	}
	c.checkInPlace(want)

	c.configure([]string{"s1", "s2"})
	c.restart()
	g.mustWrite(t, "db=db", fmt.Sprintf("m000,host=new v=1i %d", base+99))
	want[pointKey(fmt.Sprintf("m000,host=new v=1i %d", base+99))] = fmt.Sprintf("m000,host=new v=1i %d", base+99)
	c.checkInPlace(want)
	if !slices.Equal(c.owners(), []string{"s1", "s2"}) {
		t.Fatal(c.owners())
	}
}

// The rebalance killed with SIGKILL again and again, at moments that
// fall in each of its phases (schema, waiting for influxgate, copying,
// the settle wait, deleting, finishing), with influxgate killed and
// restarted under one of the runs, under a write load: the last run
// finishes, and every point is in place.
func TestRebalanceSurvivesKill9AtAnyMoment(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := newRebalanceCluster(t, "measurement", "db", []string{"s1", "s2", "s3"}, 2)
	g := c.gate.asGate()
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Hour).UnixNano()
	want := map[string]string{}
	var body []string
	for m := 0; m < 60; m++ {
		for p := 0; p < 3; p++ {
			body = append(body, fmt.Sprintf("m%03d,host=h%d v=%di %d", m, p, m*10+p, base-int64(p+1)*int64(time.Hour)))
		}
	}
	g.mustWrite(t, "db=db", strings.Join(body, "\n"))
	for _, l := range body {
		want[pointKey(l)] = l
	}
	g.waitCaughtUp(t, 30*time.Second)
	load := startLoad(t, c.gate.url, want, measurementLoad(base, 60))
	c.configure([]string{"s1", "s2", "s3"})
	c.restart()

	state := filepath.Join(c.listenerDir(), "rebalance", "state")
	for i, after := range []time.Duration{300 * time.Millisecond, 800 * time.Millisecond, 1500 * time.Millisecond,
		2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second, 6 * time.Second} {
		if _, err := os.Stat(state); err != nil {
			break // finished
		}
		cmd, wait := c.startRebalance()
		time.Sleep(after / 2)
		if i == 2 {
			c.gate.kill()
			c.gate.start()
		}
		time.Sleep(after / 2)
		_ = cmd.Process.Kill()
		code, _ := wait()
		done, cleared := c.movedKeys()
		t.Logf("run %d killed after %s (exit %d): %d keys done, %d cleared", i+1, after, code, done, cleared)
	}
	code, out := c.rebalance()
	load.finish()
	if code != 0 || !strings.Contains(out, "every key is on its owner") {
		t.Fatalf("last run: %d", code)
	}
	c.checkInPlace(want)
	t.Logf("test took %s", time.Since(start).Round(time.Millisecond))
}
