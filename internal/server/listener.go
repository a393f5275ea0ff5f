package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/ingest"
	"github.com/influxgate/influxgate/internal/jetlog"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/shard"
	"github.com/influxgate/influxgate/internal/throttle"
	"github.com/influxgate/influxgate/internal/wal"
)

// listener is one [[http]] section: its replica sets (one, or one per
// shard), the sharding layer over them if any, and the HTTP server.
type listener struct {
	name string
	cfg  config.HTTPConfig
	sets []*replicaSet
	// shards is the sharding layer; nil for an unsharded listener.
	shards *shard.Set
	// state holds where the keys are and the rebalance in progress
	// (sharded only); closeState ends its connection.
	state      shard.Store
	closeState func()
	// stopRoute ends the watch on the rebalance state (sharded only).
	stopRoute context.CancelFunc
	queries   gateway
	ln        net.Listener
	// sock is the TCP socket under ln (which may add TLS and a limit).
	sock *net.TCPListener
	srv  *http.Server
	// handler is swapped by a reload (auth, query routing, write options)
	// while connections stay open.
	handler atomic.Pointer[http.Handler]
	// lameDuck is set when the listener is about to close (shutdown-delay,
	// lameduck.go): /health answers 503 and every response closes its
	// connection, while every request is still served.
	lameDuck atomic.Bool
	// closing is set when the listener is closed on purpose, so that the
	// error of its Serve is not taken for a failure.
	closing atomic.Bool
	// conns tracks the state of every open connection (ConnState).
	conns connStates
	// served is closed when Serve has returned (nil before serve).
	served chan struct{}
}

// thisNode names this process among the nodes that share a log in NATS
// JetStream ([log-store] engine = "nats"): one name for the process's
// life, so that its leases are recognised as its own across relays.
var thisNode = sync.OnceValue(jetlog.NodeName)

// replicaSet is one relay of a listener: the listener's own, or a
// shard's.
type replicaSet struct {
	shard string // "" for an unsharded listener
	relay *relay.Relay
}

// gateway serves /query, /api/v2/query and /api/v1/prom/read.
type gateway interface {
	ServeQuery(http.ResponseWriter, *http.Request)
	ServeFlux(http.ResponseWriter, *http.Request)
	ServePromRead(http.ResponseWriter, *http.Request)
	Close()
}

func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	handling(r)
	if l.lameDuck.Load() {
		// net/http closes the connection after this response.
		w.Header().Set("Connection", "close")
	}
	(*l.handler.Load()).ServeHTTP(w, r)
}

// writer is where the listener's writes go: its relay, or the sharding
// layer that splits them over the shards' relays.
func (l *listener) writer() ingest.Writer {
	if l.shards != nil {
		return l.shards
	}
	return l.sets[0].relay
}

// ready returns why the listener cannot take writes, or nil.
func (l *listener) ready() error {
	for _, rs := range l.sets {
		if err := rs.relay.Ready(); err != nil {
			if rs.shard != "" {
				return fmt.Errorf("shard %s: %w", rs.shard, err)
			}
			return err
		}
	}
	return nil
}

// sharding is a sharded listener's layer over its shards' relays and the
// state that says where keys are.
type sharding struct {
	set   *shard.Set
	state shard.Store
	close func() // ends the state's connection
}

// shardState opens the placement and rebalance state of a sharded
// listener: files in its directory, or with the log in NATS the bucket
// every node shares, so that all of them route alike.
func (s *Server) shardState(cfg *config.Config, name string) (shard.Store, func(), error) {
	if !cfg.LogStore.NATS() {
		return shard.Dir(cfg.ListenerDir(name)), func() {}, nil
	}
	c, err := jetlog.Connect(cfg.LogStore, thisNode(), s.opts.Logger)
	if err != nil {
		return nil, nil, err
	}
	return jetlog.ShardState(c, name), c.Close, nil
}

// openSets opens the relays of a listener: one for an unsharded listener
// (data-dir/<listener>), one per shard otherwise
// (data-dir/<listener>/shards/<shard>), and the sharding layer.
func (s *Server) openSets(cfg *config.Config, hc config.HTTPConfig) (sets []*replicaSet, sh *sharding, err error) {
	defer func() {
		if err != nil {
			for _, rs := range sets {
				rs.relay.Close(context.Background())
			}
			sets = nil
			if sh != nil {
				sh.close()
				sh = nil
			}
		}
	}()
	syncMode, err := wal.ParseSyncMode(cfg.Sync)
	if err != nil {
		return nil, nil, err
	}
	openLog := jetlog.Engine(cfg, thisNode()) // nil: the local log under dir
	// The shards of a listener share one listener's tail cache: each
	// carries a share of the writes, and a cache per shard would grow the
	// process with every shard (the shards bench scenario went past
	// 100 MB of RSS with two full caches).
	var cache int64
	if hc.Sharded() {
		cache = max(8<<20/int64(len(hc.Shards)), 2<<20)
	}
	open := func(name, dir string, outputs []config.OutputConfig) (*relay.Relay, error) {
		return relay.New(relay.Options{
			CacheBytes:      cache,
			OpenLog:         openLog,
			Name:            name,
			Dir:             dir,
			Outputs:         outputs,
			Sync:            syncMode,
			SyncInterval:    cfg.SyncInterval,
			WriteTimeout:    cfg.WriteTimeout,
			DeadLetterAfter: cfg.DeadLetterAfter,
			CQBackfill:      cfg.CQBackfill,
			Logger:          s.opts.Logger,
			Metrics:         s.relayMetrics,
		})
	}
	if !hc.Sharded() {
		r, err := open(hc.Name, cfg.ListenerDir(hc.Name), hc.Outputs)
		if err != nil {
			return nil, nil, err
		}
		return []*replicaSet{{relay: r}}, nil, nil
	}
	st, closeState, err := s.shardState(cfg, hc.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("[[http]] %q: the sharding state: %w", hc.Name, err)
	}
	sh = &sharding{state: st, close: closeState}
	previous, err := unshardedPast(cfg.ListenerDir(hc.Name), st, hc)
	if err != nil {
		return nil, sh, fmt.Errorf("[[http]] %q: %w", hc.Name, err)
	}
	var shards []*shard.Shard
	var owners, configured []string
	for _, sc := range hc.Shards {
		r, err := open(hc.Name+"/"+sc.Name, cfg.ShardDir(hc.Name, sc.Name), sc.Outputs)
		if err != nil {
			return sets, sh, err
		}
		sets = append(sets, &replicaSet{shard: sc.Name, relay: r})
		shards = append(shards, &shard.Shard{Name: sc.Name, Retired: sc.Retire, Replicas: r})
		configured = append(configured, sc.Name)
		if !sc.Retire {
			owners = append(owners, sc.Name)
		}
	}
	route, err := shard.Open(st, owners, configured, previous)
	if err != nil {
		return sets, sh, fmt.Errorf("[[http]] %q: %w", hc.Name, err)
	}
	if route.Moving() {
		from, _ := route.From()
		s.logger.Warn("a rebalance is in progress: keys whose owner changed are written to both shards and read from their old one until influxgate rebalance has moved them",
			"listener", hc.Name, "from", from.Names(), "to", route.To().Names())
	}
	if sh.set, err = shard.NewSet(hc.ShardKey, shards, route); err != nil {
		return sets, sh, err
	}
	return sets, sh, nil
}

// unshardedPast returns, for a listener that was unsharded before and is
// sharded now, the one shard that holds its data: the shard whose outputs
// are the ones the old log delivered to. The old log must have delivered
// everything (its records would otherwise be lost to the new layout).
// It returns nil when the listener has no unsharded past.
func unshardedPast(dir string, st shard.Store, hc config.HTTPConfig) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, "log")); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if _, ok, err := st.Placement(); err != nil || ok {
		return nil, err // already sharded once; its placement says where data is
	}
	cur, err := wal.OpenCursors(filepath.Join(dir, "cursors"))
	if err != nil {
		return nil, err
	}
	l, err := wal.Open(wal.Options{Dir: filepath.Join(dir, "log")})
	if err != nil {
		return nil, err
	}
	last := l.LastIndex()
	l.Close()
	names := cur.Names()
	for _, n := range names {
		if i, _ := cur.Load(n); i <= last {
			return nil, fmt.Errorf("this listener was unsharded and its log still holds records for output %q; start it once more with the unsharded config until every backend has caught up, then shard it", n)
		}
	}
	for _, sc := range hc.Shards {
		var outs []string
		for _, o := range sc.Outputs {
			outs = append(outs, o.Name)
		}
		slices.Sort(outs)
		if slices.Equal(outs, names) {
			return []string{sc.Name}, nil
		}
	}
	return nil, fmt.Errorf("this listener was unsharded with outputs %v: give one shard exactly these outputs, so that influxgate knows where the existing data is and influxgate rebalance can spread it", names)
}

// watchRoute keeps the sharding layer's routing up to date with the
// rebalance state, which influxgate rebalance changes as it moves keys.
// With a state that several nodes share it also tells the others which
// state this node's routing follows (shard.Followers), every second: the
// rebalance relies on a step only once every live node follows it.
func (s *Server) watchRoute(ctx context.Context, l *listener) {
	var owners []string
	for _, sc := range l.cfg.Shards {
		if !sc.Retire {
			owners = append(owners, sc.Name)
		}
	}
	followers, shared := l.state.(shard.Followers)
	// The zero version: the first tick reads the state again, which may
	// have changed since the listener opened.
	var last shard.Version
	var route *shard.Route
	var move *shard.MoveState
	quiet := throttle.New(s.logger, time.Minute)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if shared {
				// This node routes no more writes of the listener.
				if err := followers.Leave(thisNode()); err != nil {
					s.logger.Debug("cannot remove this node's rebalance report", "listener", l.name, "err", err)
				}
			}
			return
		case <-t.C:
		}
		// The version is read before the state it stands for, so that
		// what this node reports never claims more than it routes by.
		v, err := l.state.Version()
		if err == nil && (route == nil || v != last) {
			var r *shard.Route
			var m *shard.MoveState
			if r, m, err = shard.LoadRoute(l.state, owners); err == nil {
				err = l.shards.SetRoute(r)
			}
			if err == nil {
				if route != nil && route.Moving() && !r.Moving() {
					s.logger.Info("rebalance finished: every key is on its owner", "listener", l.name)
				}
				route, move, last = r, m, v
			}
		}
		if err != nil {
			// Reported all the same: the others must see that this node
			// routes by an older state (a node still on a config without
			// the rebalance's new shards cannot follow it).
			quiet.Warn("route", "cannot follow the rebalance state; the routing in force stays", "listener", l.name, "err", err)
		}
		if shared {
			f := shard.Follower{Node: thisNode(), Version: last, Moving: move != nil, At: time.Now()}
			if move != nil {
				f.Finishing = move.Finishing
			}
			if err := followers.Report(f); err != nil {
				quiet.Warn("report", "cannot tell the other nodes which rebalance state this node follows", "listener", l.name, "err", err)
			}
		}
	}
}
