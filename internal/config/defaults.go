package config

import (
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults of the top-level keys, filled by Default.
const (
	DefaultDataDir         = "./influxgate-data"
	DefaultSync            = "always"
	DefaultSyncInterval    = 100 * time.Millisecond
	DefaultConsistency     = "any"
	DefaultWriteTimeout    = 10 * time.Second
	DefaultMaxBodySize     = 25000000 // bytes, as InfluxDB's [http] max-body-size
	DefaultShutdownTimeout = 30 * time.Second
	DefaultShutdownDelay   = 5 * time.Second
	DefaultDeadLetterAfter = 10 * time.Second
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "text"
)

// DefaultWriteMemoryBudgetMB (key "write-memory-budget-mb") bounds the
// memory of the writes in flight: it holds the body, stamped copy and log
// record of a write of the default max-body-size with room to spare, and
// ten highly compressed 24 MB bodies at once still leave influxgate under
// 512 MB resident (internal/e2e's TestGzipBombsStayWithinMemoryBudget).
const DefaultWriteMemoryBudgetMB = 128

// Defaults of per-listener and per-output keys, filled by ApplyDefaults.
const (
	DefaultOutputTimeout    = 10 * time.Second // influxdb-relay's too
	DefaultMaxBatchKB       = 512              // influxdb-relay's too
	DefaultMaxDelayInterval = 10 * time.Second // influxdb-relay's too
	DefaultOverflow         = "drop-oldest"
	DefaultMTU              = 1024 // influxdb-relay's too
	DefaultPingResponse     = 204  // influxdb-relay's and InfluxDB's
	DefaultAuthMode         = "pass-through"
	DefaultQueryStrategy    = "round-robin"
	DefaultMaxLag           = time.Second
	DefaultQueryTimeout     = 5 * time.Minute
	DefaultPrecision        = "n"
)

// Default returns a Config with every top-level default filled, before
// decoding. Per-listener and per-output defaults depend on what the file
// declares; ApplyDefaults fills them after decoding.
func Default() Config {
	return Config{
		DataDir:         DefaultDataDir,
		Sync:            DefaultSync,
		SyncInterval:    DefaultSyncInterval,
		Consistency:     DefaultConsistency,
		WriteTimeout:    DefaultWriteTimeout,
		MaxBodySize:     DefaultMaxBodySize,
		ShutdownTimeout: DefaultShutdownTimeout,
		ShutdownDelay:   DefaultShutdownDelay,
		DeadLetterAfter: DefaultDeadLetterAfter,
		CQBackfill:      true,
		Log:             LogConfig{Level: DefaultLogLevel, Format: DefaultLogFormat},
		LogStore:        defaultLogStore(),

		WriteMemoryBudgetMB: DefaultWriteMemoryBudgetMB,
	}
}

// ApplyDefaults fills the per-listener and per-output defaults that Default
// cannot know: listener names ("http", "http-2", …, "udp", …), output names
// (host:port of the location, made unique), the "/write" path of an HTTP
// location that has none, timeouts, batch sizes, overflow policy, MTU, ping
// status, auth mode and UDP precision. Only zero values are replaced, so it is
// safe to call more than once. Top-level keys are left alone: start from
// Default() for those (a zero MaxBodySize means "no limit").
func (c *Config) ApplyDefaults() {
	used := map[string]bool{}
	for _, h := range c.HTTP {
		used[h.Name] = true
	}
	for _, u := range c.UDP {
		used[u.Name] = true
	}
	for i := range c.HTTP {
		h := &c.HTTP[i]
		if h.Name == "" {
			h.Name = uniqueName("http", used)
		}
		if h.DefaultPingResponse == 0 {
			h.DefaultPingResponse = DefaultPingResponse
		}
		if h.Auth.Mode == "" {
			h.Auth.Mode = DefaultAuthMode
		}
		if h.Query.Strategy == "" {
			h.Query.Strategy = DefaultQueryStrategy
		}
		if h.Query.MaxLag == 0 {
			h.Query.MaxLag = DefaultMaxLag
		}
		if h.Query.Timeout == 0 {
			h.Query.Timeout = DefaultQueryTimeout
		}
		applyOutputDefaults(h.Outputs, true)
		for j := range h.Shards {
			applyOutputDefaults(h.Shards[j].Outputs, true)
		}
	}
	for i := range c.UDP {
		u := &c.UDP[i]
		if u.Name == "" {
			u.Name = uniqueName("udp", used)
		}
		if u.Precision == "" {
			u.Precision = DefaultPrecision
		}
		applyOutputDefaults(u.Outputs, false)
	}
}

// applyOutputDefaults fills one listener's outputs. Outputs of an HTTP
// listener are always HTTP outputs; those of a UDP listener are HTTP outputs
// when their location is an http(s) URL and plain UDP forwards otherwise.
func applyOutputDefaults(outs []OutputConfig, httpListener bool) {
	used := map[string]bool{}
	for _, o := range outs {
		used[o.Name] = true
	}
	for i := range outs {
		o := &outs[i]
		isHTTP := httpListener || isHTTPURL(o.Location)
		if o.Name == "" {
			o.Name = uniqueName(outputBaseName(o.Location), used)
		}
		if !isHTTP {
			if o.MTU == 0 {
				o.MTU = DefaultMTU
			}
			continue
		}
		o.Location = withWritePath(o.Location)
		if o.Timeout == 0 {
			o.Timeout = DefaultOutputTimeout
		}
		if o.MaxBatchKB == 0 {
			o.MaxBatchKB = DefaultMaxBatchKB
		}
		if o.MaxDelayInterval == 0 {
			o.MaxDelayInterval = DefaultMaxDelayInterval
		}
		if o.Overflow == "" {
			o.Overflow = DefaultOverflow
		}
	}
}

// uniqueName returns base, or base-2, base-3, … if taken, and marks it used.
func uniqueName(base string, used map[string]bool) string {
	name := base
	for n := 2; used[name]; n++ {
		name = base + "-" + strconv.Itoa(n)
	}
	used[name] = true
	return name
}

// outputBaseName derives an output's default name from its location: the
// host:port of a URL or the host:port itself. influxdb-relay used the whole
// location; host:port is shorter in logs and metric labels and still names
// the backend.
func outputBaseName(location Location) string {
	if u, err := location.URL(); err == nil && u.Host != "" && isHTTPScheme(u.Scheme) {
		return u.Host
	}
	if location == "" || isHTTPURL(location) {
		return "output" // an http(s) URL that does not parse: its location's own error says why
	}
	return location.String()
}

// withWritePath gives an http(s) location without a path the 1.x write path,
// so "http://db:8086" means "http://db:8086/write". Other paths are kept.
func withWritePath(location Location) Location {
	u, err := location.URL()
	if err != nil || !isHTTPScheme(u.Scheme) || u.Host == "" {
		return location
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/write"
		return Location(u.String())
	}
	return location
}

func isHTTPScheme(s string) bool {
	s = strings.ToLower(s)
	return s == "http" || s == "https"
}

// IsHTTP reports whether the output is an HTTP output (its location is an
// http(s) URL) rather than a UDP forward to host:port. Every output of an
// [[http]] section is an HTTP output.
func (o OutputConfig) IsHTTP() bool { return isHTTPURL(o.Location) }

// isHTTPURL reports whether location is meant as an http(s) URL (as opposed
// to a UDP host:port).
func isHTTPURL(location Location) bool {
	i := strings.Index(string(location), "://")
	return i > 0 && isHTTPScheme(string(location[:i]))
}

// hostPortProblem says what is wrong with s as host:port with a numeric
// port, or returns "". An empty host is allowed when emptyHost is set (listen
// on all interfaces); port 0 when zeroPort is set (an ephemeral port, handy in
// tests).
func hostPortProblem(s string, emptyHost, zeroPort bool) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err.Error()
	}
	if host == "" && !emptyHost {
		return "missing host"
	}
	if strings.ContainsAny(host, " /\\@?#") {
		return "invalid host " + strconv.Quote(host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "port " + strconv.Quote(port) + " is not a number in 0..65535"
	}
	if n == 0 && !zeroPort {
		return "port 0 is not a destination"
	}
	return ""
}
