package query

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/relay"
)

// Freshness is what the router needs to know of the relay: how current
// each backend is.
type Freshness interface {
	Freshness() []relay.Freshness
}

// target is one backend as the router sees it.
type target struct {
	name    string
	client  *backend.Client
	latency atomic.Int64 // EWMA of the time to first byte, ns; 0 = unknown
}

func (t *target) observe(d time.Duration) {
	old := t.latency.Load()
	if old == 0 {
		t.latency.Store(int64(d))
		return
	}
	t.latency.Store(old - old/5 + int64(d)/5)
}

// router picks backends for reads.
type router struct {
	fresh    Freshness
	targets  []*target
	strategy string
	maxLag   time.Duration
	stale    bool
	rr       atomic.Uint64
}

// candidates returns the backends to try for a read, best first: the
// caught-up ones ordered by the strategy; with allow-stale-reads and none
// caught up, every backend that is not down, least behind first.
//
// Freshness is matched to targets by name, never by position: during a
// reload the relay's outputs and the router's may differ for a moment, and
// a backend the relay does not report on counts as down.
func (rt *router) candidates() []*target {
	byName := make(map[string]relay.Freshness, len(rt.targets))
	for _, f := range rt.fresh.Freshness() {
		byName[f.Name] = f
	}
	fr := make([]relay.Freshness, len(rt.targets))
	for i, t := range rt.targets {
		f, ok := byName[t.name]
		if !ok {
			f = relay.Freshness{Name: t.name, State: relay.StateDown, Lag: time.Duration(1<<63 - 1)}
		}
		fr[i] = f
	}
	var ok []int
	for i, f := range fr {
		if f.State != relay.StateDown && f.Lag <= rt.maxLag {
			ok = append(ok, i)
		}
	}
	if len(ok) == 0 {
		if !rt.stale {
			return nil
		}
		for i, f := range fr {
			if f.State != relay.StateDown {
				ok = append(ok, i)
			}
		}
		if len(ok) == 0 { // all look down: try them anyway, least behind first
			for i := range fr {
				ok = append(ok, i)
			}
		}
		slices.SortStableFunc(ok, func(a, b int) int { return cmp.Compare(fr[a].Lag, fr[b].Lag) })
		return rt.pick(ok)
	}
	switch rt.strategy {
	case "random":
		rand.Shuffle(len(ok), func(i, j int) { ok[i], ok[j] = ok[j], ok[i] })
	case "least-latency":
		slices.SortStableFunc(ok, func(a, b int) int {
			return cmp.Compare(rt.targets[a].latency.Load(), rt.targets[b].latency.Load())
		})
	case "first":
	default: // round-robin
		start := int(rt.rr.Add(1)-1) % len(ok)
		ok = append(ok[start:], ok[:start]...)
	}
	return rt.pick(ok)
}

func (rt *router) pick(idx []int) []*target {
	out := make([]*target, len(idx))
	for i, j := range idx {
		out[i] = rt.targets[j]
	}
	return out
}

func newRouter(fresh Freshness, outputs []config.OutputConfig, q config.QueryConfig) (*router, error) {
	rt := &router{fresh: fresh, strategy: q.Strategy, maxLag: q.MaxLag, stale: q.AllowStaleReads}
	if rt.maxLag <= 0 {
		rt.maxLag = time.Second
	}
	for _, o := range outputs {
		c, err := backend.New(o)
		if err != nil {
			return nil, err
		}
		rt.targets = append(rt.targets, &target{name: o.Name, client: c})
	}
	return rt, nil
}

func (rt *router) close() {
	for _, t := range rt.targets {
		t.client.Close()
	}
}

// withTimeout bounds a whole query when d > 0.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
