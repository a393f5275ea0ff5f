package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Relay kinds: the config dialect the harness writes for a relay binary
// and how it starts it (dialect.go).
const (
	KindInfluxgate    = "influxgate"
	KindInfluxDBRelay = "influxdb-relay"
	KindInfluxProxy   = "influx-proxy"
	KindInmate        = "inmate"
)

// Kinds lists every relay kind the harness can configure, influxgate first.
var Kinds = []string{KindInfluxgate, KindInfluxDBRelay, KindInfluxProxy, KindInmate}

// Relay is a relay binary under test.
type Relay struct {
	Name string // label in the report
	Kind string // one of Kinds
	Path string // the binary
}

// ParseRelay parses "name=path" (the -relay flag). The kind is the name
// when it is a known kind, else influxgate (another influxgate build).
func ParseRelay(s string) (Relay, error) {
	name, path, ok := strings.Cut(s, "=")
	if !ok || name == "" || path == "" {
		return Relay{}, fmt.Errorf("relay %q: want name=path", s)
	}
	kind := KindInfluxgate
	if _, known := dialects[name]; known {
		kind = name
	}
	return Relay{Name: name, Kind: kind, Path: path}, nil
}

// Durable reports whether the relay keeps a disk log with a sync policy
// and a /health with backlogs (influxgate does; the others do not).
func (r Relay) Durable() bool { return r.dialect().durable }

// Shards reports whether the relay can spread a listener's data over
// replica sets the way the shards scenario configures it.
func (r Relay) Shards() bool { return r.dialect().shards }

func (r Relay) dialect() dialect {
	if d, ok := dialects[r.Kind]; ok {
		return d
	}
	return dialects[KindInfluxgate]
}

// Output is one backend of a relay.
type Output struct {
	Name     string
	Addr     string // host:port of an InfluxDB-like server
	BufferMB int    // buffer-size-mb; 0 leaves the relay's default
}

// WriteURL is the backend's 1.x write endpoint (influxgate's and
// influxdb-relay's location).
func (o Output) WriteURL() string { return "http://" + o.Addr + "/write" }

// BaseURL is the backend's root (influx-proxy's and Inmate's url: they add
// /write, /ping and /query themselves).
func (o Output) BaseURL() string { return "http://" + o.Addr }

// ShardOutputs is one replica set of a sharded listener.
type ShardOutputs struct {
	Name    string
	Outputs []Output
}

// RelayConfig is what one relay instance is configured with.
type RelayConfig struct {
	Bind    string // host:port of the relay's HTTP listener
	DataDir string // the relay's data directory (influxgate's log, influx-proxy's file buffer)
	Sync    string // influxgate's sync policy; "" = its default
	Outputs []Output
	// LogStore is influxgate's [log-store] table ("" = the local log).
	LogStore string
	// ShardKey and Shards configure a sharded listener instead of Outputs
	// (influxgate only).
	ShardKey string
	Shards   []ShardOutputs
	// PProf serves Go's profiler on the listener (influxgate's [debug]
	// pprof), for -trace.
	PProf bool
}

// AllOutputs returns every backend: Outputs, or those of every shard in
// order.
func (rc RelayConfig) AllOutputs() []Output {
	if len(rc.Shards) == 0 {
		return rc.Outputs
	}
	var out []Output
	for _, s := range rc.Shards {
		out = append(out, s.Outputs...)
	}
	return out
}

// StartRelay writes rc's config into dir in the relay's dialect and starts
// the relay, pinned to cpus with GOMAXPROCS procs (0 leaves Go's default)
// and extra environment variables, on a free port. It returns once /ping
// answers; rc.Bind is filled in.
func StartRelay(r Relay, rc *RelayConfig, dir, cpus string, procs int, extraEnv []string) (*Process, error) {
	d := r.dialect()
	env := append([]string(nil), d.env...)
	if procs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(procs))
	}
	env = append(env, extraEnv...)
	// A relay that reads a fixed file name from its working directory
	// (Inmate) gets a directory of its own.
	cfgDir := dir
	if d.inDir {
		cfgDir = filepath.Join(dir, r.Name)
		if err := os.MkdirAll(cfgDir, 0o755); err != nil {
			return nil, err
		}
	}
	p, addr, err := startRetrying(func(addr string) (*Process, error) {
		rc.Bind = addr
		text, err := d.render(*rc)
		if err != nil {
			return nil, fmt.Errorf("%s config: %w", r.Name, err)
		}
		cfg := filepath.Join(cfgDir, d.configName(r.Name))
		if err := os.WriteFile(cfg, text, 0o644); err != nil {
			return nil, err
		}
		spec := ProcSpec{Name: r.Name, Path: r.Path, Args: d.args(cfg),
			Env: env, CPUs: cpus, Log: filepath.Join(dir, r.Name+".log")}
		if d.inDir {
			spec.Dir = cfgDir
		}
		p, err := StartProcess(spec)
		if err != nil {
			return nil, err
		}
		if err := p.WaitHTTP("http://"+addr+"/ping", 30*time.Second); err != nil {
			p.Stop(5 * time.Second)
			return nil, err
		}
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	rc.Bind = addr
	return p, nil
}

// BackendHealth is one backend's entry in influxgate's /health checks.
type BackendHealth struct {
	Name           string `json:"name"`
	State          string `json:"state"`
	BacklogRecords uint64 `json:"backlog_records"`
	BacklogBytes   int64  `json:"backlog_bytes"`
	Delivered      uint64 `json:"delivered_points"`
}

// ReadHealth reads influxgate's /health at addr.
func ReadHealth(addr string) ([]BackendHealth, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://" + addr + "/health")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var h struct {
		Checks []BackendHealth `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return nil, fmt.Errorf("decode /health: %w", err)
	}
	return h.Checks, nil
}
