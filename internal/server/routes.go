package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/influxgate/influxgate/internal/auth"
	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/ingest"
)

// routes: writes and queries pass the gateway's credential check (when
// mode = "gateway"); /ping, /health, /metrics and the status page stay
// open, as InfluxDB keeps /ping open, so load balancers, Prometheus and
// people need no secret (none of them shows data or credentials). The
// profiler is served only when [debug] pprof = true.
func (s *Server) routes(l *listener, cfg *config.Config, hc config.HTTPConfig, writes *ingest.Handler, queries gateway, gate *auth.Gateway) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/write", gate.Middleware(http.HandlerFunc(writes.ServeV1)))
	mux.Handle("/api/v2/write", gate.Middleware(http.HandlerFunc(writes.ServeV2)))
	mux.Handle("/query", gate.Middleware(http.HandlerFunc(queries.ServeQuery)))
	mux.Handle("/api/v2/query", gate.Middleware(http.HandlerFunc(queries.ServeFlux)))
	mux.Handle("/api/v1/prom/write", gate.Middleware(http.HandlerFunc(writes.ServePromWrite)))
	mux.Handle("/api/v1/prom/read", gate.Middleware(http.HandlerFunc(queries.ServePromRead)))
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) { s.servePing(w, r, hc.DefaultPingResponse) })
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { s.serveHealth(w, r, l) })
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/vars", s.serveDebugVars)
	s.status.Register(mux)
	if cfg.Debug.PProf {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return s.commonHeaders(mux)
}

// commonHeaders adds the headers every InfluxDB answer carries.
func (s *Server) commonHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		id := requestID()
		// The keys are in canonical form already, and the values share
		// one array: Header.Set would canonicalize each key and allocate
		// a slice per value, five allocations on every request.
		v := &[5]string{id, id, "OSS", s.version(), s.opts.Version}
		h["Request-Id"] = v[0:1:1]
		h["X-Request-Id"] = v[1:2:2]
		h["X-Influxdb-Build"] = v[2:3:3]
		h["X-Influxdb-Version"] = v[3:4:4]
		h["X-Influxgate-Version"] = v[4:5:5]
		next.ServeHTTP(w, r)
	})
}

// unknownVersion is X-Influxdb-Version until a backend has answered a
// ping: influxd's own word for a version it does not know. influxgate's
// own version is not an InfluxDB version (a client comparing versions
// would take 0.x for an ancient InfluxDB); it is in X-Influxgate-Version.
const unknownVersion = "unknown"

// version is what clients see as X-Influxdb-Version: the backends' value,
// whatever it is, once one has answered a ping; "unknown" before.
func (s *Server) version() string {
	if v, _ := s.backendVersion.Load().(string); v != "" {
		return v
	}
	return unknownVersion
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// servePing answers like InfluxDB: 204 (or the listener's
// default-ping-response), or 200 with the version for ?verbose=true.
func (s *Server) servePing(w http.ResponseWriter, r *http.Request, status int) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if v := r.URL.Query().Get("verbose"); v != "" && v != "0" && v != "false" {
		writeJSON(w, http.StatusOK, map[string]string{"version": s.version()})
		return
	}
	if status == 0 {
		status = http.StatusNoContent
	}
	w.WriteHeader(status)
}

// Version probes: every versionRetry until a backend has answered, then
// every versionRefresh (a backend may be upgraded).
const (
	versionRetry   = 2 * time.Second
	versionRefresh = 30 * time.Second
)

// probeVersions learns the backends' version from their /ping until ctx
// is done.
func (s *Server) probeVersions(ctx context.Context) {
	for {
		next := versionRetry
		if s.probeVersion(ctx) {
			next = versionRefresh
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}

// probeVersion stores the X-Influxdb-Version of the first backend that
// answers its ping, whatever it says: influxd built without version
// information (1.8.10 from go install) says "unknown", and clients should
// see what they would see talking to it directly. It reports whether a
// backend answered with a version.
func (s *Server) probeVersion(ctx context.Context) bool {
	s.mu.Lock()
	var outputs []config.OutputConfig
	for _, hc := range s.cfg.HTTP {
		outputs = append(outputs, hc.AllOutputs()...)
	}
	s.mu.Unlock()
	for _, o := range outputs {
		c, err := backend.New(o)
		if err != nil {
			continue
		}
		v, err := c.Ping(ctx)
		c.Close()
		if err == nil && v != "" {
			s.backendVersion.Store(v)
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
