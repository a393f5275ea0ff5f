package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/testnats"
)

// TestNATSShardedListenerHasAStreamPerShard: a sharded listener in nats
// mode keeps one stream per shard; each measurement lands whole on the
// replicas of its owner, as with local logs.
func TestNATSShardedListenerHasAStreamPerShard(t *testing.T) {
	t.Parallel()
	nc := testnats.Start(t, testnats.Options{Servers: 3})
	c := newShardedConfig(t, "measurement", 2, "db")
	c.cfg.LogStore = config.LogStoreConfig{Engine: "nats", URLs: nc.URLs(), StreamReplicas: 3,
		StreamPrefix: "ig", LeaseTTL: 2 * time.Second}
	g := startGate(t, c.cfg)
	var body strings.Builder
	for m := range 50 {
		fmt.Fprintf(&body, "m%02d v=%d 1700000000000000000\n", m, m)
	}
	g.mustWrite(t, "db=db", body.String())
	g.waitCaughtUp(t, 30*time.Second)
	total := 0
	for i, rs := range c.shards {
		got := identical(t, "db", rs...)
		for _, p := range got {
			m := p[:strings.IndexByte(p, ' ')]
			if o := c.owner("db", m, ""); o != i {
				t.Errorf("%s on shard %d, owner %d", m, i, o)
			}
		}
		total += len(got)
	}
	if total != 50 {
		t.Fatalf("%d points stored, want 50", total)
	}
	conn, err := nats.Connect(strings.Join(nc.URLs(), ","))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	js, _ := jetstream.New(conn)
	for _, name := range []string{"ig_http=2Fs1", "ig_http=2Fs2"} {
		st, err := js.Stream(context.Background(), name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		if st.CachedInfo().State.Msgs == 0 && st.CachedInfo().State.LastSeq == 0 {
			t.Errorf("stream %s holds nothing", name)
		}
	}
}
