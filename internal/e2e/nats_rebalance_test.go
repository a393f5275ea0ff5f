package e2e

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/jetlog"
	"github.com/influxgate/influxgate/internal/shard"
	"github.com/influxgate/influxgate/internal/testnats"
)

// TestNATSRebalanceWithTwoNodes: with the log in NATS, two influxgate
// nodes serve one sharded listener and keep no sharding state of their
// own. A third shard is added while writes (and overwrites) come through
// both nodes; `influxgate rebalance`, run beside the first node, waits
// until both nodes follow the rebalance (the second is restarted with the
// new config seconds after the first), moves the keys, and finishes.
// Every point acknowledged through either node ends on exactly its
// owner's replicas with its last value, and the placement in NATS is the
// new one. Were a node's placement its own, the second node would keep
// writing moving keys to their old shard alone, and the rebalance would
// delete what it wrote there.
func TestNATSRebalanceWithTwoNodes(t *testing.T) {
	t.Parallel()
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	c := newRebalanceClusterWith(t, "measurement", "db", []string{"s1", "s2", "s3"}, 2, "\n"+natsStoreTOML(nc))
	node2 := c.addNode()
	store := config.LogStoreConfig{Engine: "nats", URLs: nc.URLs(), StreamReplicas: 1, StreamPrefix: "influxgate", LeaseTTL: 2 * time.Second}
	conn, err := jetlog.Connect(store, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	state := jetlog.ShardState(conn, "http")
	c.store = func() shard.Store { return state }

	base := time.Now().Add(-2 * time.Hour).Truncate(time.Hour).UnixNano()
	want1, want2 := map[string]string{}, map[string]string{}
	var body []string
	for m := 0; m < 60; m++ {
		body = append(body, fmt.Sprintf("m%03d,host=h0 v=%di %d", m, m, base-int64(time.Hour)))
	}
	c.gate.asGate().mustWrite(t, "db=db", strings.Join(body, "\n"))
	for _, l := range body {
		want1[pointKey(l)] = l
	}
	if placed, ok, err := state.Placement(); err != nil || !ok || strings.Join(placed, ",") != "s1,s2" {
		t.Fatalf("placement in NATS: %v %v %v", placed, ok, err)
	}

	c.configure([]string{"s1", "s2", "s3"})
	load1 := startLoadParams(t, c.gate.url, "db=db&consistency=all", want1, measurementLoad(base, 60))
	load2 := startLoadParams(t, node2.url, "db=db&consistency=all", want2, measurementLoad(base+500, 60))
	_, wait := c.startRebalance()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m, err := state.Move(); err == nil && m != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rebalance did not start within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Node 1 first; node 2 keeps the old config for a while, and the
	// rebalance must wait for it.
	c.restart()
	time.Sleep(4 * time.Second)
	if code := node2.terminate(); code != 0 {
		t.Fatalf("node 2 exited %d on SIGTERM", code)
	}
	node2.start()
	code, out := wait()
	load1.finish()
	load2.finish()
	if code != 0 || !strings.Contains(out, "rebalance finished") {
		t.Fatalf("rebalance: %d", code)
	}
	if !strings.Contains(out, "waiting until every influxgate node serving listener") {
		t.Errorf("the rebalance did not wait for the second node:\n%s", out)
	}
	for k, v := range want2 {
		want1[k] = v
	}
	c.checkInPlace(want1)
	node2.asGate().waitCaughtUp(t, 60*time.Second)
	if code, out := c.rebalance(); code != 0 || !strings.Contains(out, "nothing to move") {
		t.Errorf("a second rebalance: %d %s", code, out)
	}
}
