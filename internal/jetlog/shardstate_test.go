package jetlog

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/shard"
	"github.com/influxgate/influxgate/internal/shard/storetest"
	"github.com/influxgate/influxgate/internal/testnats"
)

func shardState(t *testing.T, nc *testnats.Cluster, node, listener string) *ShardStore {
	t.Helper()
	c, err := Connect(storeConfig(nc.URLs(), 1), node, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return ShardState(c, listener)
}

// The sharding state in NATS keeps the promises of a shard.Store, each
// node (connection) seeing what another stored.
func TestShardStateIsAStoreSharedByTheNodes(t *testing.T) {
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	n := 0
	storetest.Run(t, func(t *testing.T) shard.Store {
		n++
		return shardState(t, nc, fmt.Sprintf("node%d", n), "http")
	})
	// Another listener's state is its own.
	other := shardState(t, nc, "node9", "http.other")
	if _, ok, err := other.Placement(); err != nil || ok {
		t.Fatalf("another listener sees a placement: %v %v", ok, err)
	}
}

// Each node's report is seen by the others with the server's time, the
// latest one per node.
func TestShardStateFollowers(t *testing.T) {
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	a, b := shardState(t, nc, "a", "http"), shardState(t, nc, "b", "http")
	if fs, err := a.Followers(); err != nil || len(fs) != 0 {
		t.Fatalf("followers before any report: %v %v", fs, err)
	}
	v := shard.Version{Placement: 3, Move: 7, Keys: 40}
	for _, f := range []shard.Follower{
		{Node: "node-1.example", Version: shard.Version{Placement: 3}},
		{Node: "node-1.example", Version: v, Moving: true, Finishing: true},
		{Node: "node-2", Version: v, Moving: true},
	} {
		if err := a.Report(f); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := b.Followers()
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(fs, func(x, y shard.Follower) int { return strings.Compare(x.Node, y.Node) })
	if len(fs) != 2 || fs[0].Node != "node-1.example" || fs[0].Version != v || !fs[0].Finishing || fs[1].Node != "node-2" || fs[1].Finishing {
		t.Fatalf("followers: %+v", fs)
	}
	for _, f := range fs {
		if age := time.Since(f.At); age < -time.Second || age > 10*time.Second {
			t.Errorf("report of %s is %s old", f.Node, age)
		}
	}
	// A node that stops takes its report away.
	if err := b.Leave("node-2"); err != nil {
		t.Fatal(err)
	}
	if err := b.Leave("never-reported"); err != nil {
		t.Fatal(err)
	}
	if fs, err := a.Followers(); err != nil || len(fs) != 1 || fs[0].Node != "node-1.example" {
		t.Fatalf("followers after node-2 left: %+v %v", fs, err)
	}
}
