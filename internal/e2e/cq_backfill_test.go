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
	r := s.Query(t, db, fmt.Sprintf(`SELECT * FROM %s WHERE time < %d`, testinflux.QuoteIdent(measurement), before))
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
