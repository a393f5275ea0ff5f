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

// Relay kinds: the config dialect the harness writes for a relay binary.
const (
	KindInfluxgate    = "influxgate"
	KindInfluxDBRelay = "influxdb-relay"
)

// Relay is a relay binary under test.
type Relay struct {
	Name string // label in the report
	Kind string // KindInfluxgate or KindInfluxDBRelay
	Path string // the binary
}

// ParseRelay parses "name=path" (the -relay flag). The kind is the name
// when it is a known kind, else influxgate.
func ParseRelay(s string) (Relay, error) {
	name, path, ok := strings.Cut(s, "=")
	if !ok || name == "" || path == "" {
		return Relay{}, fmt.Errorf("relay %q: want name=path", s)
	}
	kind := KindInfluxgate
	if name == KindInfluxDBRelay {
		kind = KindInfluxDBRelay
	}
	return Relay{Name: name, Kind: kind, Path: path}, nil
}

// Durable reports whether the relay keeps a disk log with a sync policy
// and a /health with backlogs (influxgate does, influxdb-relay does not).
func (r Relay) Durable() bool { return r.Kind == KindInfluxgate }

// Output is one backend of a relay.
type Output struct {
	Name     string
	URL      string // full write URL
	BufferMB int    // buffer-size-mb; 0 leaves the relay's default
}

// RelayConfig is what one relay instance is configured with.
type RelayConfig struct {
	Bind    string // host:port of the relay's HTTP listener
	DataDir string // influxgate's data-dir
	Sync    string // influxgate's sync policy; "" = its default
	Outputs []Output
	// LogStore is influxgate's [log-store] table ("" = the local log).
	LogStore string
}

// configText renders rc in the relay's dialect. influxgate reads
// influxdb-relay's format too; its own keys (data-dir, sync, log) are added
// only for influxgate.
func (r Relay) configText(rc RelayConfig) string {
	var b strings.Builder
	if r.Kind == KindInfluxgate {
		fmt.Fprintf(&b, "data-dir = %s\n", strconv.Quote(rc.DataDir))
		if rc.Sync != "" {
			fmt.Fprintf(&b, "sync = %s\n", strconv.Quote(rc.Sync))
		}
		// Warnings (a backend down) are throttled; info would log start-up
		// chatter only, but warn keeps the log small for long runs.
		b.WriteString("\n[log]\nlevel = \"warn\"\n")
		b.WriteString(rc.LogStore)
	}
	fmt.Fprintf(&b, "\n[[http]]\nname = \"bench\"\nbind-addr = %s\noutput = [\n", strconv.Quote(rc.Bind))
	for _, o := range rc.Outputs {
		fmt.Fprintf(&b, "  { name = %s, location = %s, timeout = \"10s\"", strconv.Quote(o.Name), strconv.Quote(o.URL))
		if o.BufferMB > 0 {
			fmt.Fprintf(&b, ", buffer-size-mb = %d", o.BufferMB)
		}
		b.WriteString(" },\n")
	}
	b.WriteString("]\n")
	return b.String()
}

// StartRelay writes rc's config into dir and starts the relay, pinned to
// cpus with GOMAXPROCS procs (0 leaves Go's default) and extra environment
// variables, on a free port. It returns once /ping answers; rc.Bind is
// filled in.
func StartRelay(r Relay, rc *RelayConfig, dir, cpus string, procs int, extraEnv []string) (*Process, error) {
	var env []string
	if procs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(procs))
	}
	env = append(env, extraEnv...)
	p, addr, err := startRetrying(func(addr string) (*Process, error) {
		rc.Bind = addr
		cfg := filepath.Join(dir, r.Name+".toml")
		if err := os.WriteFile(cfg, []byte(r.configText(*rc)), 0o644); err != nil {
			return nil, err
		}
		p, err := StartProcess(ProcSpec{Name: r.Name, Path: r.Path, Args: []string{"-config", cfg},
			Env: env, CPUs: cpus, Log: filepath.Join(dir, r.Name+".log")})
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
