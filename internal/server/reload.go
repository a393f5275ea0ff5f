package server

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/relay"
)

// Reload applies a new config without a restart (SIGHUP): listeners that
// stay keep their log, their connections and every backend's cursor; their
// outputs, auth, query routing and write options take the new values. New
// listeners start, removed ones shut down (their logs stay on disk). Keys
// that need the process to restart (data-dir, sync, a listener's address
// or certificate, the log format) keep their old value and are returned as
// warnings. The new config must be valid (check with Validate).
//
// A reload is all or nothing: every new listener is opened and bound and
// every change is prepared before any is put in force; if one step fails,
// what was opened is closed again and the running config stays whole.
func (s *Server) Reload(cfg *config.Config) (warnings []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cfg
	keep := func(key string, same bool) {
		if !same {
			warnings = append(warnings, key+" changes only at restart; the running value stays")
		}
	}
	keep("data-dir", cfg.DataDir == old.DataDir)
	keep("sync", cfg.Sync == old.Sync)
	keep("sync-interval", cfg.SyncInterval == old.SyncInterval)
	keep("cq-backfill", cfg.CQBackfill == old.CQBackfill)
	cfg.CQBackfill = old.CQBackfill
	keep("log.format", cfg.Log.Format == old.Log.Format)
	keep("write-memory-budget-mb", cfg.WriteMemoryBudgetMB == old.WriteMemoryBudgetMB)
	keep("[[udp]] sections", reflect.DeepEqual(cfg.UDP, old.UDP))
	keep("[log-store]", reflect.DeepEqual(cfg.LogStore, old.LogStore))
	cfg.LogStore = old.LogStore // the relays' logs are open on it
	cfg.DataDir, cfg.Sync, cfg.SyncInterval, cfg.Log.Format = old.DataDir, old.Sync, old.SyncInterval, old.Log.Format
	cfg.WriteMemoryBudgetMB = old.WriteMemoryBudgetMB // the budget is shared by requests in flight
	cfg.UDP = old.UDP

	// A listener that an earlier reload removed and that still serves its
	// lame-duck delay holds its log and its address: one that takes its
	// name or address back waits for it to close.
	s.settleRetiring(func(l *listener) bool {
		for _, hc := range cfg.HTTP {
			if hc.Name == l.name || hc.BindAddr == l.cfg.BindAddr {
				return true
			}
		}
		return false
	})
	byName := make(map[string]*listener, len(s.listeners))
	for _, l := range s.listeners {
		byName[l.name] = l
	}
	// Phase 1: prepare. Nothing running changes.
	type step struct {
		l       *listener
		hc      config.HTTPConfig
		added   bool // a new listener, opened and bound but not serving
		changes []*relay.Change
		h       *handlers
	}
	var steps []step
	abort := func() {
		var added []*listener
		for _, st := range steps {
			if st.added {
				added = append(added, st.l)
				continue
			}
			for _, c := range st.changes {
				c.Abort()
			}
			st.h.release()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.closeListeners(ctx, added)
	}
	for i := range cfg.HTTP {
		hc := &cfg.HTTP[i]
		l := byName[hc.Name]
		if l == nil {
			nl, err := s.openListener(cfg, *hc)
			if err != nil {
				abort()
				return warnings, fmt.Errorf("new listener %q: %w (nothing was changed)", hc.Name, err)
			}
			steps = append(steps, step{l: nl, hc: *hc, added: true})
			continue
		}
		delete(byName, hc.Name)
		key := fmt.Sprintf("[[http]] %q ", hc.Name)
		keep(key+"bind-addr", hc.BindAddr == l.cfg.BindAddr)
		keep(key+"TLS certificate", hc.SSLCombinedPEM == l.cfg.SSLCombinedPEM &&
			hc.TLSCert == l.cfg.TLSCert && hc.TLSKey == l.cfg.TLSKey)
		hc.BindAddr, hc.SSLCombinedPEM, hc.TLSCert, hc.TLSKey = l.cfg.BindAddr, l.cfg.SSLCombinedPEM, l.cfg.TLSCert, l.cfg.TLSKey
		if !sameLayout(*hc, l.cfg) {
			keep(key+"shard-key and [[http.shard]] sections (names, retire, or sharded or not)", false)
			hc.ShardKey, hc.Shards, hc.Outputs = l.cfg.ShardKey, l.cfg.Shards, l.cfg.Outputs
		}
		st := step{l: l, hc: *hc}
		for j, rs := range l.sets {
			outputs := hc.Outputs
			if rs.shard != "" {
				outputs = hc.Shards[j].Outputs
			}
			change, err := rs.relay.Prepare(outputs, cfg.WriteTimeout, cfg.DeadLetterAfter)
			if err != nil {
				steps = append(steps, st)
				abort()
				return warnings, fmt.Errorf("listener %q: %w (nothing was changed)", hc.Name, err)
			}
			st.changes = append(st.changes, change)
		}
		h, err := s.buildHandlers(l, cfg, *hc)
		if err != nil {
			for _, c := range st.changes {
				c.Abort()
			}
			abort()
			return warnings, fmt.Errorf("listener %q: %w (nothing was changed)", hc.Name, err)
		}
		st.h = h
		steps = append(steps, st)
	}
	// Phase 2: commit. Nothing here can fail.
	var next []*listener
	for _, st := range steps {
		if st.added {
			if s.running {
				s.serve(st.l)
			}
			s.logger.Info("listener added by a reload", "listener", st.hc.Name)
		} else {
			for _, c := range st.changes {
				if err := c.Commit(); err != nil {
					s.logger.Error("applying new outputs", "listener", st.hc.Name, "err", err)
				}
			}
			st.l.install(st.h)
			if !reflect.DeepEqual(st.hc, st.l.cfg) {
				s.logger.Info("listener reconfigured by a reload", "listener", st.hc.Name, "outputs", len(st.hc.AllOutputs()))
			}
			st.l.cfg = st.hc
		}
		next = append(next, st.l)
	}
	var removed []*listener
	for _, l := range s.listeners {
		if byName[l.name] == l {
			removed = append(removed, l)
			s.logger.Info("listener removed by a reload: it serves for shutdown-delay as a lame duck, then closes; its log stays in the data dir",
				"listener", l.name, "shutdown_delay", cfg.ShutdownDelay)
		}
	}
	s.retire(removed, cfg.ShutdownDelay, 30*time.Second)
	s.setListeners(next)
	s.cfg = cfg
	return warnings, nil
}

// sameLayout reports whether a reload keeps a listener's sharding as it
// is: sharded or not, the shard key, and each shard's name and retire
// flag in order. Changing any of them moves data, which only a restart
// (and influxgate rebalance) may start.
func sameLayout(a, b config.HTTPConfig) bool {
	if a.ShardKey != b.ShardKey || len(a.Shards) != len(b.Shards) {
		return false
	}
	for i := range a.Shards {
		if a.Shards[i].Name != b.Shards[i].Name || a.Shards[i].Retire != b.Shards[i].Retire {
			return false
		}
	}
	return true
}
