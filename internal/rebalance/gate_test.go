package rebalance

import (
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
)

func TestGateURL(t *testing.T) {
	for _, tc := range []struct {
		h    config.HTTPConfig
		want string
	}{
		{config.HTTPConfig{BindAddr: "0.0.0.0:9096"}, "http://127.0.0.1:9096"},
		{config.HTTPConfig{BindAddr: ":9096"}, "http://127.0.0.1:9096"},
		{config.HTTPConfig{BindAddr: "[::]:9096"}, "http://[::1]:9096"},
		{config.HTTPConfig{BindAddr: "10.0.0.5:9096", TLSCert: "c", TLSKey: "k"}, "https://10.0.0.5:9096"},
		{config.HTTPConfig{BindAddr: "gate.example:443", SSLCombinedPEM: "p"}, "https://gate.example:443"},
	} {
		if got, err := gateURL(tc.h); err != nil || got != tc.want {
			t.Errorf("gateURL(%q) = %q, %v; want %q", tc.h.BindAddr, got, err, tc.want)
		}
	}
	if _, err := gateURL(config.HTTPConfig{Name: "x", BindAddr: "9096"}); err == nil {
		t.Error("a bind-addr without a port: no error")
	}
}

// A backend is behind t unless its backlog is empty or its oldest record
// arrived after t, as measured from when /health was asked.
func TestGateBehind(t *testing.T) {
	g := &gate{url: "http://gate", listener: "main"}
	asked := time.Date(2026, 1, 1, 12, 0, 10, 0, time.UTC)
	before := asked.Add(-5 * time.Second) // t
	check := func(name, shard string, recs uint64, age float64) healthCheck {
		return healthCheck{Name: name, Listener: "main", Shard: shard, State: "live", BacklogRecs: recs, BacklogAge: age}
	}
	h := health{Checks: []healthCheck{
		check("a1", "s1", 0, 0),   // caught up
		check("b1", "s1", 3, 4.5), // oldest arrived 4.5 s before asked: after t
		check("a2", "s2", 2, 5.5), // arrived before t
		check("b2", "s2", 7, 0),   // a backlog whose age is not known yet
		check("a3", "s3", 1, 60),  // not among the shards asked about
		{Name: "x", Listener: "other", Shard: "s1", BacklogRecs: 9, BacklogAge: 99},
	}}
	got := g.behind(h, asked, []string{"s1", "s2", "s4"}, before)
	want := []string{"a2 (shard s2", "b2 (shard s2", `no shard "s4"`}
	if len(got) != len(want) {
		t.Fatalf("behind = %q, want %d entries", got, len(want))
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("behind[%d] = %q, want it to name %q", i, got[i], w)
		}
	}
}

func TestShardedListener(t *testing.T) {
	sh := func(name string) config.HTTPConfig {
		return config.HTTPConfig{Name: name, ShardKey: "measurement", Shards: []config.ShardConfig{{Name: "s1"}}}
	}
	cfg := &config.Config{HTTP: []config.HTTPConfig{{Name: "plain"}, sh("a"), sh("b")}}
	if _, err := shardedListener(cfg, ""); err == nil || !strings.Contains(err.Error(), "-listener") {
		t.Errorf("two sharded listeners: %v", err)
	}
	if h, err := shardedListener(cfg, "b"); err != nil || h.Name != "b" {
		t.Errorf("listener b: %v %v", h.Name, err)
	}
	if _, err := shardedListener(cfg, "plain"); err == nil {
		t.Error("an unsharded listener was taken")
	}
	if h, err := shardedListener(&config.Config{HTTP: []config.HTTPConfig{{Name: "plain"}, sh("a")}}, ""); err != nil || h.Name != "a" {
		t.Errorf("the only sharded listener: %v %v", h.Name, err)
	}
}
