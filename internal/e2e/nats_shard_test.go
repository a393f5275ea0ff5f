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

// TestNATSUDPListenerLogsToNATS: a [[udp]] listener's HTTP outputs are fed
// from a stream too (<prefix>_<udp listener>), not from a local log.
func TestNATSUDPListenerLogsToNATS(t *testing.T) {
	t.Parallel()
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	a, b := twoBackends(t, "udpdb")
	cfg := newConfig(t, a, b)
	cfg.UDP = []config.UDPConfig{{Name: "udp", BindAddr: "127.0.0.1:0", Precision: "ms", Database: "udpdb",
		Outputs: []config.OutputConfig{output("a", a.URL()), output("b", b.URL())}}}
	cfg.LogStore = config.LogStoreConfig{Engine: "nats", URLs: nc.URLs(), StreamReplicas: 1,
		StreamPrefix: "ig", LeaseTTL: 2 * time.Second}
	cfg.ApplyDefaults()
	g := startGate(t, cfg)
	sendUDP(t, g.srv.UDPAddrs()[0], 0, 5)
	a.WaitCount(t, "udpdb", "udp", 50, 20*time.Second)
	b.WaitCount(t, "udpdb", "udp", 50, 20*time.Second)
	conn, err := nats.Connect(strings.Join(nc.URLs(), ","))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	js, _ := jetstream.New(conn)
	st, err := js.Stream(context.Background(), "ig_udp")
	if err != nil {
		t.Fatalf("no stream for the UDP listener: %v", err)
	}
	if st.CachedInfo().State.LastSeq == 0 {
		t.Fatal("the UDP listener's stream never held a record")
	}
}
