package config

import (
	"strings"
	"time"
)

// Config is influxgate's one internal model. The native TOML format, the
// influxdb-relay TOML format and the Inmate YAML format all load into it.
// Defaults are applied by Default() before decoding; Validate() checks it.
type Config struct {
	// DataDir holds the durable write log, cursors and dead-letter stores
	// (key "data-dir"; default "./influxgate-data"). One subdirectory per
	// listener that feeds HTTP outputs.
	DataDir string
	// Sync is when the log is fsynced: "always" (before a write is answered),
	// "batch" (at least every SyncInterval) or "none" (key "sync").
	Sync string
	// SyncInterval is the longest time between fsyncs with Sync = "batch"
	// (key "sync-interval"; default 100ms).
	SyncInterval time.Duration
	// Consistency is the default write consistency: "any", "one", "quorum"
	// or "all" (key "consistency"; default "any"). A request's consistency
	// parameter overrides it.
	Consistency string
	// WriteTimeout bounds how long a write waits for backend verdicts before
	// it is answered per the consistency policy (key "write-timeout"; 10s).
	WriteTimeout time.Duration
	// MaxBodySize is the largest accepted request body in bytes, after
	// decompression (key "max-body-size"; default 25000000 as InfluxDB;
	// 0 means no limit of its own: the log's record size and the write
	// memory budget still bound a body).
	MaxBodySize int64
	// WriteMemoryBudgetMB bounds, in MiB, the memory that the writes in
	// flight on all listeners hold together: bodies being read and
	// inflated, their stamped copies and the log records built from them
	// (key "write-memory-budget-mb"; default 128). A write that does not
	// fit within a short wait is answered 503 with Retry-After.
	WriteMemoryBudgetMB int
	// ShutdownTimeout bounds the drain on SIGINT/SIGTERM (key
	// "shutdown-timeout"; default 30s).
	ShutdownTimeout time.Duration
	// ShutdownDelay is the lame-duck phase before a shutdown (key
	// "shutdown-delay"; default 5s; 0 skips it): on SIGTERM or SIGINT,
	// /health answers 503 so that load balancers stop choosing the node,
	// and every response carries Connection: close so that clients and
	// balancers move their keep-alive connections elsewhere, while
	// everything is still served. Only then does the shutdown bounded by
	// ShutdownTimeout begin. A listener removed by a reload gets the same
	// delay before it closes.
	ShutdownDelay time.Duration
	// DeadLetterAfter is how long a record that one backend refuses for a
	// reason of its own (database missing, unknown user) while another
	// replica accepted it is retried before it moves to that backend's
	// dead-letter store (key "dead-letter-after"; default 10s).
	DeadLetterAfter time.Duration
	// CQBackfill recomputes the continuous queries of a backend that
	// received points late (after an outage or a replay) for the
	// intervals those points touch, so that its downsampled data equals
	// the other replicas' (key "cq-backfill"; default true).
	CQBackfill bool
	// LogStore is the [log-store] table: the local log or NATS JetStream.
	LogStore LogStoreConfig
	Log      LogConfig
	Debug    DebugConfig
	HTTP     []HTTPConfig
	UDP      []UDPConfig

	// Source describes where the config came from (file name and format);
	// it is filled by the loader, not by the user.
	Source Source
}

// Source names the file a Config was loaded from and its format.
type Source struct {
	Path   string
	Format Format
	// Ignored lists keys of the source file that were accepted for
	// compatibility but have no effect in influxgate, each with the reason
	// (for example Inmate's retry_count). Warnings() reports them.
	Ignored []string
}

// Format is a config file dialect.
type Format string

// The formats LoadBytes recognises.
const (
	FormatNative Format = "influxgate" // native TOML (superset of influxdb-relay)
	FormatRelay  Format = "influxdb-relay"
	FormatInmate Format = "inmate"
)

// LogConfig is the [log] table.
type LogConfig struct {
	Level  string // "debug", "info", "warn", "error"; default "info"
	Format string // "text" or "json"; default "text"
}

// DebugConfig is the [debug] table: diagnostics that are off by default.
type DebugConfig struct {
	// PProf serves Go's profiler under /debug/pprof/ on every HTTP
	// listener ("pprof"; default false). Profiles reveal no data but cost
	// CPU while taken, and the endpoints are not behind gateway auth:
	// enable it on a trusted network only.
	PProf bool
}

// HTTPConfig is one [[http]] section: a listener with its own outputs, as in
// influxdb-relay. Each section is an independent relay with its own log.
type HTTPConfig struct {
	Name                   string // "name"; default "http" or "http-N"
	BindAddr               string // "bind-addr", host:port (required)
	SSLCombinedPEM         string // "ssl-combined-pem": certificate and key in one PEM file
	TLSCert                string // "tls-cert": certificate file (with tls-key)
	TLSKey                 string // "tls-key"
	DefaultRetentionPolicy string // "default-retention-policy": rp used when a write names none
	// DefaultPingResponse is the status GET/HEAD /ping answers with
	// ("default-ping-response", from influxdb-relay's README; default 204).
	DefaultPingResponse int
	// MaxConnectionLimit caps the client connections open at once; a
	// connection beyond it is closed as soon as it is accepted, as
	// InfluxDB's key of the same name does ("max-connection-limit"; 0, the
	// default, means no limit).
	MaxConnectionLimit int
	Auth               AuthConfig
	Query              QueryConfig    // [http.query]
	Outputs            []OutputConfig // "output"
	// ShardKey spreads the listener's data over Shards ("shard-key"):
	// "measurement" or "tag:NAME"; "" means no sharding, and Outputs are
	// the one replica set. docs/sharding.md has the rules.
	ShardKey string
	// Shards are the [[http.shard]] sections: replica sets, each with its
	// own outputs and log. A listener has either Outputs or Shards.
	Shards []ShardConfig
}

// ShardConfig is one [[http.shard]] section of a sharded listener.
type ShardConfig struct {
	Name string // "name" (required; part of the owner function)
	// Retire keeps the shard serving what it holds while it owns no keys,
	// so that influxgate rebalance can move its data off before it is
	// removed from the config ("retire").
	Retire  bool
	Outputs []OutputConfig // "output"
}

// Sharded reports whether the listener spreads its data over shards.
func (h HTTPConfig) Sharded() bool { return len(h.Shards) > 0 }

// AllOutputs returns every output of the listener: its outputs, or those
// of all its shards in config order.
func (h HTTPConfig) AllOutputs() []OutputConfig {
	if !h.Sharded() {
		return h.Outputs
	}
	var out []OutputConfig
	for _, s := range h.Shards {
		out = append(out, s.Outputs...)
	}
	return out
}

// ShardTag returns K for shard-key = "tag:K", and "" otherwise.
func (h HTTPConfig) ShardTag() string {
	if t, ok := strings.CutPrefix(h.ShardKey, "tag:"); ok {
		return t
	}
	return ""
}

// QueryConfig is [http.query]: how /query and /api/v2/query are routed.
type QueryConfig struct {
	// Strategy picks the backend for a read among the caught-up ones:
	// "round-robin" (default), "random", "first" (config order) or
	// "least-latency" ("strategy").
	Strategy string
	// MaxLag: a backend whose oldest undelivered write is older than this
	// is not caught up and gets no reads ("max-lag"; default 1s).
	MaxLag time.Duration
	// AllowStaleReads lets reads go to a backend that is behind when none
	// is caught up, instead of answering 503 ("allow-stale-reads").
	AllowStaleReads bool
	// Timeout bounds a whole query, streaming included ("timeout"; 5m).
	// Each output's own timeout bounds the wait for its answer to start.
	Timeout time.Duration
}

// AuthConfig is [http.auth]: how clients are authenticated.
type AuthConfig struct {
	// Mode is "pass-through" (default: client credentials are forwarded to
	// the backends, which decide, as influxdb-relay does) or "gateway"
	// (influxgate checks credentials and rights itself against Tokens and
	// Users; the backends see the outputs' credentials).
	Mode   string
	Tokens []string // accepted as "Authorization: Token <t>", Basic or u/p password
	// TokenRights is what every token may do ("token-rights"); zero means
	// the key is absent: DefaultRights apply (OrDefault).
	TokenRights Rights
	Users       []UserAuth // accepted as Basic auth, u/p or "Token user:password"
}

// UserAuth is one gateway user.
type UserAuth struct {
	Username string
	Password string
	// Rights is what the user may do ("rights"); zero means the key is
	// absent: DefaultRights apply (OrDefault).
	Rights Rights
}

// OutputConfig is one backend (an "output" entry). The same type serves
// [[http]] outputs and [[udp]] outputs; Validate checks which keys fit where.
type OutputConfig struct {
	Name string // "name" (required)
	// Location is "location": the full /write (or /api/v2/write) URL, or
	// host:port for UDP. It prints redacted (see Location).
	Location Location
	// Timeout per request to this backend ("timeout"; default 10s).
	Timeout time.Duration
	// BufferSizeMB caps this backend's backlog in the log ("buffer-size-mb";
	// 0 = no cap but the disk).
	BufferSizeMB int
	// MaxBatchKB is the largest request built by merging queued records
	// ("max-batch-kb"; default 512, as influxdb-relay).
	MaxBatchKB int
	// MaxDelayInterval is the longest retry backoff ("max-delay-interval";
	// default 10s).
	MaxDelayInterval    time.Duration
	SkipTLSVerification bool   // "skip-tls-verification"
	CAFile              string // "ca-file": PEM CA bundle to verify the backend
	Username            string // "username": 1.x credentials used for this backend
	Password            string // "password"
	Token               string // "token": 2.x API token used for this backend
	Org                 string // "org": 2.x organisation for /api/v2/write
	// Overflow is what happens at BufferSizeMB: "drop-oldest" (default) or
	// "reject" ("overflow").
	Overflow string
	MTU      int // "mtu": largest UDP datagram for UDP outputs (default 1024)
}

// UDPConfig is one [[udp]] section.
type UDPConfig struct {
	Name            string // "name"
	BindAddr        string // "bind-addr" (required)
	ReadBuffer      int    // "read-buffer": SO_RCVBUF in bytes; 0 = OS default
	Precision       string // "precision": n, u, ms, s, m, h (default n)
	Database        string // "database": enables HTTP outputs through the log
	RetentionPolicy string // "retention-policy"
	Outputs         []OutputConfig
}
