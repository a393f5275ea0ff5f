// Package server assembles influxgate from a config: one relay and one
// HTTP listener per [[http]] section, one UDP listener (with a relay when it
// has HTTP outputs) per [[udp]] section, the data-directory lock, TLS, the
// routes (/write, /api/v2/write, /ping, /health, /metrics, the status page),
// reloads and the two-phase shutdown.
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/influxgate/influxgate/internal/auth"
	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/ingest"
	"github.com/influxgate/influxgate/internal/query"
	"github.com/influxgate/influxgate/internal/quiesce"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/status"
	"github.com/influxgate/influxgate/internal/throttle"
	"github.com/influxgate/influxgate/internal/wal"
)

// Options are the parts of the environment a Server needs besides config.
type Options struct {
	Version string // influxgate's version, for headers and /health
	Logger  *slog.Logger
}

// Server is a running influxgate.
type Server struct {
	opts   Options
	logger *slog.Logger
	reg    *prometheus.Registry
	status *status.Page
	unlock func() error
	// backendVersion is the X-Influxdb-Version last seen from a backend,
	// passed on so clients see the version of the servers behind.
	backendVersion atomic.Value
	// connsRefused counts connections closed at max-connection-limit.
	connsRefused *prometheus.CounterVec

	relayMetrics  *relay.Metrics
	ingestMetrics *ingest.Metrics
	queryMetrics  *query.Metrics
	// writeBudget bounds the memory of writes in flight on every
	// listener together: one process, one memory.
	writeBudget *ingest.Budget

	// mu serialises what changes cfg and listeners (New, Reload, Run's
	// shutdown). Request handlers never take it: they read the snapshot
	// in serving, so that a shutdown or reload waiting for in-flight
	// requests cannot deadlock with them.
	mu        sync.Mutex
	cfg       *config.Config
	listeners []*listener
	serving   atomic.Pointer[[]*listener]
	udp       []*udpListener // [[udp]] sections; a reload leaves them alone
	running   bool
	errs      chan error // a listener's Serve failed
	// lameDuck is set once the shutdown's lame-duck phase has begun
	// (LameDuck); a listener a reload adds then starts in it too.
	lameDuck atomic.Bool
	// retiring are listeners removed by reloads that serve out their
	// lame-duck delay before they close (retire).
	retiring []*retiring
}

// New locks the data directory, opens a relay per [[http]] section and
// binds every listener, so that every start-up problem is reported before
// anything is served.
func New(cfg *config.Config, opts Options) (_ *Server, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, opts: opts, logger: opts.Logger.With("component", "server"),
		reg: prometheus.NewRegistry(), errs: make(chan error, 16)}
	s.backendVersion.Store("")
	s.connsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "influxgate_http_connections_refused_total",
		Help: "Client connections closed on accept because max-connection-limit connections were open."}, []string{"listener"})
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		s.connsRefused)
	s.relayMetrics = relay.NewMetrics(s.reg)
	s.ingestMetrics = ingest.NewMetrics(s.reg)
	s.writeBudget = ingest.NewBudget(int64(cfg.WriteMemoryBudgetMB)<<20, s.ingestMetrics)
	s.queryMetrics = query.NewMetrics(s.reg)
	s.status = status.New(status.Options{Version: opts.Version, Sources: s.statusSources,
		AcceptedPoints: s.ingestMetrics.AcceptedPoints})
	defer func() {
		if err != nil {
			s.closeAll(context.Background())
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data-dir: %w", err)
	}
	registerMetrics(s.reg, opts.Version, cfg.DataDir)
	if s.unlock, err = wal.LockDir(cfg.DataDir); err != nil {
		return nil, err
	}
	for _, hc := range cfg.HTTP {
		l, err := s.openListener(cfg, hc)
		if err != nil {
			return nil, err
		}
		s.setListeners(append(s.listeners, l))
	}
	if err := s.openUDP(); err != nil {
		return nil, err
	}
	return s, nil
}

// openListener opens the relays of one [[http]] section, builds its
// handlers and binds its address.
func (s *Server) openListener(cfg *config.Config, hc config.HTTPConfig) (*listener, error) {
	sets, sh, err := s.openSets(cfg, hc)
	if err != nil {
		return nil, err
	}
	l := &listener{name: hc.Name, cfg: hc, sets: sets}
	if sh != nil {
		l.shards, l.state, l.closeState = sh.set, sh.state, sh.close
	}
	closeSets := func() {
		for _, rs := range sets {
			rs.relay.Close(context.Background())
		}
		if l.closeState != nil {
			l.closeState()
		}
	}
	h, err := s.buildHandlers(l, cfg, hc)
	if err != nil {
		closeSets()
		return nil, err
	}
	l.install(h)
	l.srv = &http.Server{
		Handler:           l,
		ConnContext:       l.conns.context,
		ConnState:         l.conns.track,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.opts.Logger.With("component", "http", "listener", hc.Name).Handler(), slog.LevelDebug),
	}
	if l.ln, l.sock, err = s.listen(hc); err != nil {
		l.queries.Close()
		closeSets()
		return nil, err
	}
	for _, rs := range sets {
		s.relayMetrics.Track(rs.relay)
	}
	return l, nil
}

// handlers are a listener's routes, built from one config.
type handlers struct {
	http    http.Handler
	queries gateway
}

// buildHandlers builds the listener's routes from the config without
// putting them in force (install does); on a failed reload they are
// dropped with release.
func (s *Server) buildHandlers(l *listener, cfg *config.Config, hc config.HTTPConfig) (*handlers, error) {
	consistency, err := relay.ParseConsistency(cfg.Consistency, relay.Any)
	if err != nil {
		return nil, fmt.Errorf("consistency: %w", err)
	}
	writes := ingest.New(l.writer(), ingest.Options{
		MaxBodySize:            cfg.MaxBodySize,
		DefaultRetentionPolicy: hc.DefaultRetentionPolicy,
		Consistency:            consistency,
		Budget:                 s.writeBudget,
		Logger:                 s.opts.Logger,
		Metrics:                s.ingestMetrics,
	})
	gate := auth.New(hc.Auth)
	var queries gateway
	if l.shards == nil {
		queries, err = query.New(query.Options{
			Relay: l.sets[0].relay, Outputs: hc.Outputs, Query: hc.Query, Consistency: consistency,
			Gateway: gate != nil, Logger: s.opts.Logger, Metrics: s.queryMetrics,
		})
	} else {
		opts := query.ShardedOptions{Set: l.shards, Query: hc.Query, Consistency: consistency,
			Gateway: gate != nil, Logger: s.opts.Logger, Metrics: s.queryMetrics}
		for i, sc := range hc.Shards {
			opts.Shards = append(opts.Shards, query.ShardReplicas{Name: sc.Name, Relay: l.sets[i].relay, Outputs: sc.Outputs})
		}
		queries, err = query.NewSharded(opts)
	}
	if err != nil {
		return nil, err
	}
	return &handlers{http: s.routes(l, cfg, hc, writes, queries, gate), queries: queries}, nil
}

// release drops handlers that were never installed.
func (h *handlers) release() { h.queries.Close() }

// install swaps h in; the previous query gateway's connections are
// released.
func (l *listener) install(h *handlers) {
	old := l.queries
	l.queries = h.queries
	l.handler.Store(&h.http)
	if old != nil {
		old.Close()
	}
}

// listen opens a [[http]] section's socket; it returns the listener to
// serve (with the connection limit and TLS over it) and the bare socket,
// which stopAccepting quiesces.
func (s *Server) listen(hc config.HTTPConfig) (net.Listener, *net.TCPListener, error) {
	sock, err := quiesce.Listen(hc.BindAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("[[http]] %q bind-addr: %w", hc.Name, err)
	}
	var ln net.Listener = sock
	if hc.MaxConnectionLimit > 0 {
		// Under TLS too: a refused client costs no handshake.
		refused := s.connsRefused.WithLabelValues(hc.Name)
		quiet := throttle.New(s.logger, time.Minute)
		ln = newLimitListener(ln, hc.MaxConnectionLimit, func() {
			refused.Inc()
			quiet.Warn("refused", "max-connection-limit reached: closing new client connections",
				"listener", hc.Name, "limit", hc.MaxConnectionLimit)
		})
	}
	certFile, keyFile := hc.TLSCert, hc.TLSKey
	if hc.SSLCombinedPEM != "" {
		certFile, keyFile = hc.SSLCombinedPEM, hc.SSLCombinedPEM
	}
	if certFile == "" {
		return ln, sock, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("[[http]] %q TLS certificate: %w", hc.Name, err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), sock, nil
}

// Addrs returns the bound address of every HTTP listener, in config order.
func (s *Server) Addrs() []string {
	ls := s.current()
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.ln.Addr().String()
	}
	return out
}

// statusSources lists the relays (HTTP and UDP) for the status page.
func (s *Server) statusSources() []status.Source {
	var out []status.Source
	for _, l := range s.current() {
		for _, rs := range l.sets {
			out = append(out, rs.relay)
		}
	}
	for _, u := range s.udp {
		if u.relay != nil {
			out = append(out, u.relay)
		}
	}
	return out
}

// current is the listeners in force, without a lock.
func (s *Server) current() []*listener {
	if p := s.serving.Load(); p != nil {
		return *p
	}
	return nil
}

// setListeners replaces the listeners in force; s.mu is held.
func (s *Server) setListeners(ls []*listener) {
	s.listeners = ls
	snap := append([]*listener(nil), ls...)
	s.serving.Store(&snap)
}

// Run serves until ctx is done, then shuts down: stop accepting, let
// in-flight requests finish within shutdown-timeout, let the workers
// deliver what they can in what is left of it, persist cursors, close.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	for _, l := range s.listeners {
		s.serve(l)
	}
	s.running = true
	s.mu.Unlock()
	s.startUDP()
	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	go s.probeVersions(probeCtx)
	go s.status.Run(probeCtx)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-s.errs:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logger.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	for _, r := range s.retiring {
		r.cut() // listeners removed by a reload close now, alongside the others
	}
	s.closeListeners(sctx, s.listeners)
	s.setListeners(nil)
	s.settleRetiring(nil)
	s.closeUDPListeners() // their last lines go to their relays
	s.closeUDPRelays(sctx)
	if s.unlock != nil {
		_ = s.unlock()
		s.unlock = nil
	}
	s.logger.Info("stopped")
	return runErr
}

// serve starts a listener's relays and HTTP server; s.mu is held.
func (s *Server) serve(l *listener) {
	if s.lameDuck.Load() {
		l.lameDuck.Store(true)
	}
	for _, rs := range l.sets {
		rs.relay.Start()
	}
	if l.shards != nil {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		l.stopRoute = func() { cancel(); <-done }
		go func() {
			defer close(done)
			s.watchRoute(ctx, l)
		}()
	}
	s.logger.Info("listening", "listener", l.name, "addr", l.ln.Addr().String(),
		"tls", l.cfg.SSLCombinedPEM != "" || l.cfg.TLSCert != "", "outputs", len(l.cfg.AllOutputs()),
		"shards", len(l.cfg.Shards))
	l.served = make(chan struct{})
	go func() {
		defer close(l.served)
		if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !l.closing.Load() {
			s.errs <- fmt.Errorf("listener %s: %w", l.name, err)
		}
	}()
}

// closeAll releases everything New opened when start-up fails.
func (s *Server) closeAll(ctx context.Context) {
	s.closeListeners(ctx, s.listeners)
	s.setListeners(nil)
	s.closeUDPListeners() // their last lines go to their relays
	s.closeUDPRelays(ctx)
	if s.unlock != nil {
		_ = s.unlock()
		s.unlock = nil
	}
}

// closeListeners shuts listeners down in two phases: the HTTP servers stop
// accepting and finish in-flight requests (stopAccepting, then
// http.Server.Shutdown), then each relay gets a few seconds to catch up
// before it persists its cursors and closes its log.
func (s *Server) closeListeners(ctx context.Context, ls []*listener) {
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.stopAccepting(ctx, s.logger)
			if err := l.srv.Shutdown(ctx); err != nil {
				s.logger.Warn("in-flight requests cut off at shutdown", "listener", l.name, "err", err)
				l.srv.Close()
			}
			l.ln.Close() // in case Serve never started
		}()
	}
	wg.Wait()
	for _, l := range ls {
		// The data is safe in the log either way.
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		l.queries.Close()
		if l.stopRoute != nil {
			l.stopRoute()
		}
		if l.closeState != nil {
			l.closeState()
		}
		for _, rs := range l.sets {
			if err := rs.relay.Close(dctx); err != nil {
				s.logger.Error("closing relay", "listener", l.name, "shard", rs.shard, "err", err)
			}
			s.relayMetrics.Untrack(rs.relay)
		}
		cancel()
	}
}
