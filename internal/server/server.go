// Package server assembles influxgate from a config: one relay and one
// HTTP listener per [[http]] section, the data-directory lock, TLS, the
// routes (/write, /api/v2/write, /ping, /health, /metrics) and the
// two-phase shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/influxgate/influxgate/internal/auth"
	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/ingest"
	"github.com/influxgate/influxgate/internal/query"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/wal"
)

// Options are the parts of the environment a Server needs besides config.
type Options struct {
	Version string // influxgate's version, for headers and /health
	Logger  *slog.Logger
}

// Server is a running influxgate.
type Server struct {
	cfg       *config.Config
	opts      Options
	logger    *slog.Logger
	reg       *prometheus.Registry
	listeners []*listener
	unlock    func() error
	// backendVersion is the X-Influxdb-Version last seen from a backend,
	// passed on so clients see the version of the servers behind.
	backendVersion atomic.Value
	// connsRefused counts connections closed at max-connection-limit.
	connsRefused *prometheus.CounterVec
}

type listener struct {
	name    string
	cfg     config.HTTPConfig
	relay   *relay.Relay
	queries *query.Handler
	ln      net.Listener
	srv     *http.Server
}

// New locks the data directory, opens a relay per [[http]] section and
// binds every listener, so that every start-up problem is reported before
// anything is served.
func New(cfg *config.Config, opts Options) (s *Server, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s = &Server{cfg: cfg, opts: opts, logger: opts.Logger.With("component", "server"),
		reg: prometheus.NewRegistry()}
	s.backendVersion.Store("")
	s.connsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "influxgate_http_connections_refused_total",
		Help: "Client connections closed on accept because max-connection-limit connections were open."}, []string{"listener"})
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		s.connsRefused)
	// srv, not s: every error return sets s to nil before this runs.
	srv := s
	defer func() {
		if err != nil {
			srv.closeAll(context.Background())
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data-dir: %w", err)
	}
	if s.unlock, err = wal.LockDir(cfg.DataDir); err != nil {
		return nil, err
	}
	syncMode, err := wal.ParseSyncMode(cfg.Sync)
	if err != nil {
		return nil, err
	}
	consistency, err := relay.ParseConsistency(cfg.Consistency, relay.Any)
	if err != nil {
		return nil, fmt.Errorf("consistency: %w", err)
	}
	relayMetrics := relay.NewMetrics(s.reg)
	ingestMetrics := ingest.NewMetrics(s.reg)
	queryMetrics := query.NewMetrics(s.reg)
	for _, hc := range cfg.HTTP {
		r, err := relay.New(relay.Options{
			Name:            hc.Name,
			Dir:             filepath.Join(cfg.DataDir, DirName(hc.Name)),
			Outputs:         hc.Outputs,
			Sync:            syncMode,
			SyncInterval:    cfg.SyncInterval,
			WriteTimeout:    cfg.WriteTimeout,
			DeadLetterAfter: cfg.DeadLetterAfter,
			Logger:          opts.Logger,
			Metrics:         relayMetrics,
		})
		if err != nil {
			return nil, err
		}
		relayMetrics.Track(r)
		l := &listener{name: hc.Name, cfg: hc, relay: r}
		s.listeners = append(s.listeners, l)
		writes := ingest.New(r, ingest.Options{
			MaxBodySize:            cfg.MaxBodySize,
			DefaultRetentionPolicy: hc.DefaultRetentionPolicy,
			Consistency:            consistency,
			Logger:                 opts.Logger,
			Metrics:                ingestMetrics,
		})
		gate := auth.New(hc.Auth)
		if l.queries, err = query.New(query.Options{
			Relay: r, Outputs: hc.Outputs, Query: hc.Query, Consistency: consistency,
			Gateway: gate != nil, Logger: opts.Logger, Metrics: queryMetrics,
		}); err != nil {
			return nil, err
		}
		l.srv = &http.Server{
			Handler:           s.routes(l, writes, gate),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(opts.Logger.With("component", "http", "listener", hc.Name).Handler(), slog.LevelDebug),
		}
		if l.ln, err = s.listen(hc); err != nil {
			return nil, err
		}
	}
	return s, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// DirName makes a listener name safe as a directory name.
func DirName(name string) string { return unsafeName.ReplaceAllString(name, "_") }

func (s *Server) listen(hc config.HTTPConfig) (net.Listener, error) {
	ln, err := net.Listen("tcp", hc.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("[[http]] %q bind-addr: %w", hc.Name, err)
	}
	if hc.MaxConnectionLimit > 0 {
		// Under TLS too: a refused client costs no handshake.
		refused := s.connsRefused.WithLabelValues(hc.Name)
		var rl refusalLog
		ln = newLimitListener(ln, hc.MaxConnectionLimit, func() {
			refused.Inc()
			rl.note(time.Now(), func(n int64) {
				s.logger.Warn("max-connection-limit reached: closing new client connections", "listener", hc.Name,
					"limit", hc.MaxConnectionLimit, "refused_since_last_line", n)
			})
		})
	}
	certFile, keyFile := hc.TLSCert, hc.TLSKey
	if hc.SSLCombinedPEM != "" {
		certFile, keyFile = hc.SSLCombinedPEM, hc.SSLCombinedPEM
	}
	if certFile == "" {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("[[http]] %q TLS certificate: %w", hc.Name, err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

// Addrs returns the bound address of every HTTP listener, in config order.
func (s *Server) Addrs() []string {
	out := make([]string, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.ln.Addr().String()
	}
	return out
}

// Relays returns the relays, in config order.
func (s *Server) Relays() []*relay.Relay {
	out := make([]*relay.Relay, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.relay
	}
	return out
}

// Run serves until ctx is done, then shuts down: stop accepting, let
// in-flight requests finish within shutdown-timeout, let the workers
// deliver what they can in what is left of it, persist cursors, close.
func (s *Server) Run(ctx context.Context) error {
	errs := make(chan error, len(s.listeners))
	for _, l := range s.listeners {
		l.relay.Start()
		s.logger.Info("listening", "listener", l.name, "addr", l.ln.Addr().String(),
			"tls", l.cfg.SSLCombinedPEM != "" || l.cfg.TLSCert != "", "outputs", len(l.cfg.Outputs))
		go func() {
			if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("listener %s: %w", l.name, err)
			}
		}()
	}
	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	go s.probeVersions(probeCtx)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	s.logger.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.closeAll(sctx)
	s.logger.Info("stopped")
	return runErr
}

func (s *Server) closeAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, l := range s.listeners {
		if l.srv != nil && l.ln != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := l.srv.Shutdown(ctx); err != nil {
					s.logger.Warn("in-flight requests cut off at shutdown", "listener", l.name, "err", err)
					l.srv.Close()
				}
				l.ln.Close() // in case Serve never started
			}()
		} else if l.ln != nil {
			l.ln.Close()
		}
	}
	wg.Wait()
	for _, l := range s.listeners {
		// Give the workers at most a few seconds to catch up: the data is
		// safe in the log either way.
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if l.queries != nil {
			l.queries.Close()
		}
		if err := l.relay.Close(dctx); err != nil {
			s.logger.Error("closing relay", "listener", l.name, "err", err)
		}
		cancel()
	}
	if s.unlock != nil {
		_ = s.unlock()
		s.unlock = nil
	}
}
