package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// cqBackends starts two influxd 1.6.7 that run continuous queries every
// second, as [continuous_queries] run-interval = "1s" makes them.
func cqBackends(t *testing.T) (*testinflux.Server, *testinflux.Server) {
	t.Helper()
	opts := testinflux.Options{ExtraConfig: "[continuous_queries]\nrun-interval = \"1s\"\n"}
	return testinflux.Start(t, opts), testinflux.Start(t, opts)
}

// liveWriter writes one point of m a tenth of a second, without a
// timestamp (influxgate stamps it), until stopped: the load a continuous
// query downsamples as it comes.
type liveWriter struct {
	stop    chan struct{}
	done    sync.WaitGroup
	written atomic.Int64
	lastAt  atomic.Int64
}

func startLiveWriter(t *testing.T, g *gate, params string, lines func(i int) string) *liveWriter {
	t.Helper()
	w := &liveWriter{stop: make(chan struct{})}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			req, _ := http.NewRequest(http.MethodPost, g.url+"/write?"+params, strings.NewReader(lines(i)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				continue // influxgate restarting: the point was not acknowledged
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				w.written.Add(1)
				w.lastAt.Store(time.Now().UnixNano())
			}
		}
	}()
	return w
}

func (w *liveWriter) halt() { close(w.stop); w.done.Wait() }

// cqResults returns the rows of the continuous query's target up to
// before (Unix ns), rendered for comparison.
func cqResults(t *testing.T, s *testinflux.Server, db, measurement string, before int64) []string {
	t.Helper()
	from := testinflux.QuoteIdent(measurement)
	if rp, m, ok := strings.Cut(measurement, "."); ok {
		from = testinflux.QuoteIdent(rp) + "." + testinflux.QuoteIdent(m)
	}
	r := s.Query(t, db, fmt.Sprintf(`SELECT * FROM %s WHERE time < %d`, from, before))
	var out []string
	for _, res := range r.Results {
		for _, se := range res.Series {
			for _, v := range se.Values {
				out = append(out, fmt.Sprint(v))
			}
		}
	}
	return out
}

// waitBackfilled waits until backend name's continuous-query backfill has
// run at least runs times and is idle.
func waitBackfilled(t *testing.T, g *gate, name string, runs uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := do(t, http.MethodGet, g.url+"/health", "")
		var h struct {
			Checks []struct {
				Name     string `json:"name"`
				Backfill *struct {
					State string `json:"state"`
					Runs  uint64 `json:"runs"`
				} `json:"cq_backfill"`
			} `json:"checks"`
		}
		_ = json.Unmarshal([]byte(r.Body), &h)
		for _, c := range h.Checks {
			if c.Name == name && c.Backfill != nil && c.Backfill.Runs >= runs && c.Backfill.State == "idle" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend %s not backfilled after %v: %s", name, within, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A backend down for several continuous-query intervals while writes go
// on ends, with no operator action, with the same continuous-query results
// as the backend that was up (issue 13; G6).
func TestCQBackfillAfterAnOutage(t *testing.T) {
	t.Parallel()
	a, b := cqBackends(t)
	g := startGate(t, newConfig(t, a, b))
	g.mustQuery(t, "CREATE DATABASE db")
	g.mustQuery(t, `CREATE CONTINUOUS QUERY cq ON db RESAMPLE EVERY 1s FOR 6s BEGIN SELECT mean(v) AS v, count(v) AS n INTO db.autogen.m_2s FROM db.autogen.m GROUP BY time(2s), host END`)
	w := startLiveWriter(t, g, "db=db", func(i int) string { return fmt.Sprintf("m,host=h%d v=%d\n", i%2, i) })
	time.Sleep(3 * time.Second)
	b.Stop(t)
	time.Sleep(8 * time.Second) // four intervals b never computes
	b.Restart(t)
	time.Sleep(4 * time.Second)
	w.halt()
	g.waitCaughtUp(t, 30*time.Second)
	waitBackfilled(t, g, "b", 1, 30*time.Second)
	// Let the replica that was up finish its resampling of the last
	// intervals, then compare every interval that ended before the last
	// write.
	time.Sleep(7 * time.Second)
	before := w.lastAt.Load() - int64(2*time.Second)
	wantA := cqResults(t, a, "db", "m_2s", before)
	gotB := cqResults(t, b, "db", "m_2s", before)
	if len(wantA) < 10 {
		t.Fatalf("a holds only %d continuous-query rows: the test load did not run", len(wantA))
	}
	if strings.Join(wantA, "\n") != strings.Join(gotB, "\n") {
		t.Fatalf("continuous-query results differ after the outage:\n a (%d rows): %s\n b (%d rows): %s",
			len(wantA), clip(strings.Join(wantA, " | ")), len(gotB), clip(strings.Join(gotB, " | ")))
	}
}

func (g *gate) mustQuery(t *testing.T, q string) {
	t.Helper()
	r := do(t, http.MethodPost, g.url+"/query", url.Values{"q": {q}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if r.Status != http.StatusOK || strings.Contains(r.Body, `"error"`) {
		t.Fatalf("%s: %d %s", q, r.Status, r.Body)
	}
}

// The edge cases of issue 13 in one outage: a GROUP BY time() offset, a
// query INTO another database (dropped during the outage: recomputed up
// to its drop), a :MEASUREMENT back-reference over a regex into another
// retention policy, and a query created during the outage (recomputed
// from its creation on only, as InfluxDB does not backfill a new query).
func TestCQBackfillEdgeCases(t *testing.T) {
	t.Parallel()
	a, b := cqBackends(t)
	g := startGate(t, newConfig(t, a, b))
	for _, q := range []string{
		"CREATE DATABASE db", "CREATE DATABASE other",
		"CREATE RETENTION POLICY rp2 ON db DURATION 1h REPLICATION 1",
		`CREATE CONTINUOUS QUERY offs ON db RESAMPLE FOR 8s BEGIN SELECT max(v) AS v INTO db.autogen.m_off FROM m GROUP BY time(4s, 1s), host END`,
		`CREATE CONTINUOUS QUERY cnt ON db RESAMPLE FOR 6s BEGIN SELECT count(v) AS n INTO other.autogen.m_cnt FROM db.autogen.m GROUP BY time(2s) END`,
		`CREATE CONTINUOUS QUERY rx ON db RESAMPLE FOR 6s BEGIN SELECT mean(v) AS v INTO db.rp2.:MEASUREMENT FROM db.autogen./^m$/ GROUP BY time(2s), * END`,
	} {
		g.mustQuery(t, q)
	}
	w := startLiveWriter(t, g, "db=db", func(i int) string { return fmt.Sprintf("m,host=h%d v=%d\n", i%3, i) })
	time.Sleep(3 * time.Second)
	b.Stop(t)
	time.Sleep(3 * time.Second)
	// influxd's continuous-query service runs once a second, so the replica
	// that was up runs a new query up to a second after its CREATE and
	// last runs a dropped one up to a second before its DROP. In 2s
	// intervals, a CREATE just after an interval starts and a DROP in its
	// second half leave no doubt about which intervals it computed.
	atPhase(2*time.Second, 150*time.Millisecond)
	g.mustQuery(t, `CREATE CONTINUOUS QUERY late ON db RESAMPLE FOR 6s BEGIN SELECT min(v) AS v INTO db.autogen.m_min FROM m GROUP BY time(2s) END`)
	time.Sleep(2 * time.Second)
	atPhase(2*time.Second, 1500*time.Millisecond)
	g.mustQuery(t, `DROP CONTINUOUS QUERY cnt ON db`)
	time.Sleep(3 * time.Second)
	b.Restart(t)
	time.Sleep(3 * time.Second)
	w.halt()
	g.waitCaughtUp(t, 30*time.Second)
	waitBackfilled(t, g, "b", 1, 30*time.Second)
	time.Sleep(9 * time.Second) // a finishes resampling the last intervals
	before := w.lastAt.Load() - int64(4*time.Second)
	for _, target := range []struct{ db, m string }{{"db", "m_off"}, {"other", "m_cnt"}, {"db", "m_min"}, {"db", "rp2.m"}} {
		m := target.m
		want := cqResults(t, a, target.db, m, before)
		got := cqResults(t, b, target.db, m, before)
		if len(want) < 3 {
			t.Errorf("%s.%s: a holds only %d rows", target.db, m, len(want))
		}
		if strings.Join(want, "\n") != strings.Join(got, "\n") {
			t.Errorf("%s.%s differs after the outage:\n a (%d rows): %s\n b (%d rows): %s", target.db, m,
				len(want), clip(strings.Join(want, " | ")), len(got), clip(strings.Join(got, " | ")))
		}
	}
}

// atPhase sleeps until the wall clock is phase past a multiple of every.
func atPhase(every, phase time.Duration) {
	now := time.Now().UnixNano()
	wait := (int64(phase) - now%int64(every) + int64(every)) % int64(every)
	time.Sleep(time.Duration(wait))
}

// waitBackfillState waits until backend name's backfill is in state.
func waitBackfillState(t *testing.T, g *gate, name, state string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := do(t, http.MethodGet, g.url+"/health", "")
		if strings.Contains(r.Body, `"state": "`+state+`"`) || strings.Contains(r.Body, `"state":"`+state+`"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend %s's backfill not %s after %v: %s", name, state, within, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A kill -9 of influxgate in the middle of a backfill loses nothing: the
// backfill record is still at the backend's cursor, and runs again after
// the restart. A fake proxy in front of b slows its /query answers so
// that the backfill is still running when the kill comes.
func TestCQBackfillSurvivesKill9(t *testing.T) {
	t.Parallel()
	a, b := cqBackends(t)
	pb := newFakeFaultProxy(t, "b", b.URL())
	p := newProcGate(t, func(dataDir, addr string) string {
		return fmt.Sprintf(`data-dir = %q
write-timeout = "5s"
[[http]]
name = "http"
bind-addr = %q
output = [
  { name = "a", location = %q, max-delay-interval = "1s", timeout = "10s" },
  { name = "b", location = %q, max-delay-interval = "1s", timeout = "10s" },
]
`, dataDir, addr, a.WriteURL(), pb.WriteURL())
	})
	g := p.asGate()
	g.mustQuery(t, "CREATE DATABASE db")
	g.mustQuery(t, `CREATE CONTINUOUS QUERY cq ON db RESAMPLE FOR 6s BEGIN SELECT mean(v) AS v, count(v) AS n INTO db.autogen.m_2s FROM db.autogen.m GROUP BY time(2s) END`)
	g.mustQuery(t, `CREATE CONTINUOUS QUERY cq2 ON db RESAMPLE FOR 6s BEGIN SELECT max(v) AS v INTO db.autogen.m_max FROM db.autogen.m GROUP BY time(2s) END`)
	w := startLiveWriter(t, g, "db=db", func(i int) string { return fmt.Sprintf("m v=%d\n", i) })
	time.Sleep(3 * time.Second)
	b.Stop(t)
	time.Sleep(6 * time.Second)
	pb.set(fault{Mode: modeDelay, Delay: 2 * time.Second, Path: "/query"})
	b.Restart(t)
	waitBackfillState(t, g, "b", "running", 30*time.Second)
	p.kill()
	pb.set(fault{})
	p.start()
	time.Sleep(3 * time.Second)
	w.halt()
	g.waitCaughtUp(t, 30*time.Second)
	waitBackfilled(t, g, "b", 1, 30*time.Second)
	time.Sleep(7 * time.Second)
	before := w.lastAt.Load() - int64(2*time.Second)
	for _, m := range []string{"m_2s", "m_max"} {
		want, got := cqResults(t, a, "db", m, before), cqResults(t, b, "db", m, before)
		if len(want) < 5 || strings.Join(want, "\n") != strings.Join(got, "\n") {
			t.Errorf("%s after a kill -9 during the backfill:\n a (%d rows): %s\n b (%d rows): %s", m,
				len(want), clip(strings.Join(want, " | ")), len(got), clip(strings.Join(got, " | ")))
		}
	}
}
