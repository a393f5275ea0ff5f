//go:build nats

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/testnats"
)

// TestNATSCQBackfillAfterAnOutage is TestCQBackfillAfterAnOutage with the
// log in NATS JetStream: the backfill record goes through the stream and
// the backend that was down ends with the same continuous-query results.
func TestNATSCQBackfillAfterAnOutage(t *testing.T) {
	t.Parallel()
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	a, b := cqBackends(t)
	cfg := newConfig(t, a, b)
	cfg.LogStore = config.LogStoreConfig{Engine: "nats", URLs: nc.URLs(), StreamReplicas: 1,
		StreamPrefix: "cq", LeaseTTL: 2 * time.Second}
	g := startGate(t, cfg)
	g.mustQuery(t, "CREATE DATABASE db")
	g.mustQuery(t, `CREATE CONTINUOUS QUERY cq ON db RESAMPLE EVERY 1s FOR 6s BEGIN SELECT mean(v) AS v, count(v) AS n INTO db.autogen.m_2s FROM db.autogen.m GROUP BY time(2s), host END`)
	w := startLiveWriter(t, g, "db=db", func(i int) string { return fmt.Sprintf("m,host=h%d v=%d\n", i%2, i) })
	time.Sleep(3 * time.Second)
	b.Stop(t)
	time.Sleep(8 * time.Second)
	b.Restart(t)
	time.Sleep(4 * time.Second)
	w.halt()
	g.waitCaughtUp(t, 30*time.Second)
	waitBackfilled(t, g, "b", 1, 30*time.Second)
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
