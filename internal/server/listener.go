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

// openSets opens the relays of a listener: one for an unsharded listener
// (data-dir/<listener>), one per shard otherwise
// (data-dir/<listener>/shards/<shard>), and the sharding layer.
func (s *Server) openSets(cfg *config.Config, hc config.HTTPConfig) (sets []*replicaSet, set *shard.Set, err error) {
	defer func() {
		if err != nil {
			for _, rs := range sets {
				rs.relay.Close(context.Background())
			}
			sets = nil
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
	previous, err := unshardedPast(cfg.ListenerDir(hc.Name), hc)
	if err != nil {
		return nil, nil, fmt.Errorf("[[http]] %q: %w", hc.Name, err)
	}
	var shards []*shard.Shard
	var owners, configured []string
	for _, sc := range hc.Shards {
		r, err := open(hc.Name+"/"+sc.Name, cfg.ShardDir(hc.Name, sc.Name), sc.Outputs)
		if err != nil {
			return sets, nil, err
		}
		sets = append(sets, &replicaSet{shard: sc.Name, relay: r})
		shards = append(shards, &shard.Shard{Name: sc.Name, Retired: sc.Retire, Replicas: r})
		configured = append(configured, sc.Name)
		if !sc.Retire {
			owners = append(owners, sc.Name)
		}
	}
	route, err := shard.Open(cfg.ListenerDir(hc.Name), owners, configured, previous)
	if err != nil {
		return sets, nil, fmt.Errorf("[[http]] %q: %w", hc.Name, err)
	}
	if route.Moving() {
		from, _ := route.From()
		s.logger.Warn("a rebalance is in progress: keys whose owner changed are written to both shards and read from their old one until influxgate rebalance has moved them",
			"listener", hc.Name, "from", from.Names(), "to", route.To().Names())
	}
	set, err = shard.NewSet(hc.ShardKey, shards, route)
	if err != nil {
		return sets, nil, err
	}
	return sets, set, nil
}

// unshardedPast returns, for a listener that was unsharded before and is
// sharded now, the one shard that holds its data: the shard whose outputs
// are the ones the old log delivered to. The old log must have delivered
// everything (its records would otherwise be lost to the new layout).
// It returns nil when the listener has no unsharded past.
func unshardedPast(dir string, hc config.HTTPConfig) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, "log")); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "placement")); err == nil {
		return nil, nil // already sharded once; its placement says where data is
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
func (s *Server) watchRoute(ctx context.Context, l *listener) {
	var owners []string
	for _, sc := range l.cfg.Shards {
		if !sc.Retire {
			owners = append(owners, sc.Name)
		}
	}
	dir := s.cfg.ListenerDir(l.name)
	last := stateStamp(dir)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stamp := stateStamp(dir)
		if stamp == last {
			continue
		}
		last = stamp
		route, _, err := shard.LoadRoute(dir, owners)
		if err == nil {
			err = l.shards.SetRoute(route)
		}
		if err != nil {
			s.logger.Error("cannot read the rebalance state; the routing in force stays", "listener", l.name, "err", err)
			continue
		}
		if !route.Moving() {
			s.logger.Info("rebalance finished: every key is on its owner", "listener", l.name)
		}
	}
}

// stateStamp changes whenever the rebalance state does.
func stateStamp(dir string) string {
	var stamp string
	for _, f := range []string{"rebalance/state", "rebalance/keys", "placement"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
			stamp += fmt.Sprintf("%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return stamp
}
