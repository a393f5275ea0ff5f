package server

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/influxgate/influxgate/internal/config"
)

// Reload applies a new config without a restart (SIGHUP): listeners that
// stay keep their log, their connections and every backend's cursor; their
// outputs, auth, query routing and write options take the new values. New
// listeners start, removed ones shut down (their logs stay on disk). Keys
// that need the process to restart (data-dir, sync, a listener's address
// or certificate, the log format) keep their old value and are returned as
// warnings. The new config must be valid (check with Validate); on an
// error the running one stays in force for what was not yet applied.
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
	keep("log.format", cfg.Log.Format == old.Log.Format)
	keep("write-memory-budget-mb", cfg.WriteMemoryBudgetMB == old.WriteMemoryBudgetMB)
	keep("[[udp]] sections", reflect.DeepEqual(cfg.UDP, old.UDP))
	cfg.DataDir, cfg.Sync, cfg.SyncInterval, cfg.Log.Format = old.DataDir, old.Sync, old.SyncInterval, old.Log.Format
	cfg.WriteMemoryBudgetMB = old.WriteMemoryBudgetMB // the budget is shared by requests in flight
	cfg.UDP = old.UDP

	byName := make(map[string]*listener, len(s.listeners))
	for _, l := range s.listeners {
		byName[l.name] = l
	}
	var next []*listener
	for i := range cfg.HTTP {
		hc := &cfg.HTTP[i]
		l := byName[hc.Name]
		if l == nil {
			nl, err := s.openListener(cfg, *hc)
			if err != nil {
				return warnings, fmt.Errorf("new listener %q: %w", hc.Name, err)
			}
			if s.serving {
				s.serve(nl)
			}
			s.logger.Info("listener added by a reload", "listener", hc.Name)
			next = append(next, nl)
			continue
		}
		delete(byName, hc.Name)
		key := fmt.Sprintf("[[http]] %q ", hc.Name)
		keep(key+"bind-addr", hc.BindAddr == l.cfg.BindAddr)
		keep(key+"TLS certificate", hc.SSLCombinedPEM == l.cfg.SSLCombinedPEM &&
			hc.TLSCert == l.cfg.TLSCert && hc.TLSKey == l.cfg.TLSKey)
		hc.BindAddr, hc.SSLCombinedPEM, hc.TLSCert, hc.TLSKey = l.cfg.BindAddr, l.cfg.SSLCombinedPEM, l.cfg.TLSCert, l.cfg.TLSKey
		if err := l.relay.Reconfigure(hc.Outputs, cfg.WriteTimeout, cfg.DeadLetterAfter); err != nil {
			return warnings, fmt.Errorf("listener %q: %w", hc.Name, err)
		}
		if err := s.setHandler(l, cfg, *hc); err != nil {
			return warnings, fmt.Errorf("listener %q: %w", hc.Name, err)
		}
		if !reflect.DeepEqual(*hc, l.cfg) {
			s.logger.Info("listener reconfigured by a reload", "listener", hc.Name, "outputs", len(hc.Outputs))
		}
		l.cfg = *hc
		next = append(next, l)
	}
	var removed []*listener
	for _, l := range s.listeners {
		if byName[l.name] == l {
			removed = append(removed, l)
			s.logger.Info("listener removed by a reload; its log stays in the data dir", "listener", l.name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.closeListeners(ctx, removed)
	s.listeners = next
	s.cfg = cfg
	return warnings, nil
}
