package query

import (
	"slices"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/relay"
)

type fakeFreshness []relay.Freshness

func (f fakeFreshness) Freshness() []relay.Freshness { return f }

func names(ts []*target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.name)
	}
	return out
}

func testRouter(t *testing.T, fresh fakeFreshness, q config.QueryConfig) *router {
	t.Helper()
	var outs []config.OutputConfig
	for _, f := range fresh {
		outs = append(outs, config.OutputConfig{Name: f.Name, Location: "http://127.0.0.1:1/write", Timeout: time.Second})
	}
	rt, err := newRouter(fresh, outs, q)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.close)
	return rt
}

func TestCandidatesOnlyCaughtUpBackends(t *testing.T) {
	fresh := fakeFreshness{
		{Name: "a", State: relay.StateLive},
		{Name: "b", State: relay.StateReplaying, Lag: 5 * time.Second},
		{Name: "c", State: relay.StateDown, Lag: 0},
		{Name: "d", State: relay.StateLive, Lag: 500 * time.Millisecond},
	}
	rt := testRouter(t, fresh, config.QueryConfig{Strategy: "first", MaxLag: time.Second})
	if got := names(rt.candidates()); !slices.Equal(got, []string{"a", "d"}) {
		t.Errorf("first: %v, want [a d] (b is behind, c down)", got)
	}
}

func TestRoundRobinRotates(t *testing.T) {
	fresh := fakeFreshness{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	rt := testRouter(t, fresh, config.QueryConfig{Strategy: "round-robin", MaxLag: time.Second})
	var firsts []string
	for i := 0; i < 6; i++ {
		c := rt.candidates()
		if len(c) != 3 {
			t.Fatalf("candidates %v", names(c))
		}
		firsts = append(firsts, c[0].name)
	}
	if !slices.Equal(firsts, []string{"a", "b", "c", "a", "b", "c"}) {
		t.Errorf("round-robin order %v", firsts)
	}
}

func TestLeastLatencyPrefersTheFastest(t *testing.T) {
	fresh := fakeFreshness{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	rt := testRouter(t, fresh, config.QueryConfig{Strategy: "least-latency", MaxLag: time.Second})
	rt.targets[0].observe(30 * time.Millisecond)
	rt.targets[1].observe(2 * time.Millisecond)
	rt.targets[2].observe(9 * time.Millisecond)
	if got := names(rt.candidates()); !slices.Equal(got, []string{"b", "c", "a"}) {
		t.Errorf("least-latency: %v", got)
	}
	// The average moves with new observations.
	for i := 0; i < 20; i++ {
		rt.targets[1].observe(100 * time.Millisecond)
	}
	if got := names(rt.candidates()); got[0] != "c" {
		t.Errorf("after b slowed down: %v", got)
	}
}

func TestRandomCoversEveryBackend(t *testing.T) {
	fresh := fakeFreshness{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	rt := testRouter(t, fresh, config.QueryConfig{Strategy: "random", MaxLag: time.Second})
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		c := rt.candidates()
		if len(c) != 3 {
			t.Fatalf("random dropped a backend: %v", names(c))
		}
		seen[c[0].name] = true
	}
	if len(seen) != 3 {
		t.Errorf("random picked only %v first in 200 tries", seen)
	}
}

func TestStaleReads(t *testing.T) {
	fresh := fakeFreshness{
		{Name: "a", State: relay.StateReplaying, Lag: 9 * time.Second},
		{Name: "b", State: relay.StateReplaying, Lag: 3 * time.Second},
		{Name: "c", State: relay.StateDown, Lag: time.Second},
	}
	strict := testRouter(t, fresh, config.QueryConfig{Strategy: "first", MaxLag: time.Second})
	if c := strict.candidates(); len(c) != 0 {
		t.Errorf("without allow-stale-reads: %v, want none", names(c))
	}
	stale := testRouter(t, fresh, config.QueryConfig{Strategy: "first", MaxLag: time.Second, AllowStaleReads: true})
	if got := names(stale.candidates()); !slices.Equal(got, []string{"b", "a"}) {
		t.Errorf("allow-stale-reads: %v, want the least behind first, the down one left out", got)
	}
}

// The relay may list its backends in another order than the router (or
// not list one, for a moment during a reload): freshness goes by name.
func TestCandidatesMatchFreshnessByName(t *testing.T) {
	fresh := fakeFreshness{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	rt := testRouter(t, fresh, config.QueryConfig{Strategy: "first", MaxLag: time.Second})
	rt.fresh = fakeFreshness{
		{Name: "c", State: relay.StateLive},
		{Name: "a", State: relay.StateDown},
	}
	if got := names(rt.candidates()); !slices.Equal(got, []string{"c"}) {
		t.Errorf("candidates %v, want [c]: a is down, b unknown to the relay", got)
	}
}
