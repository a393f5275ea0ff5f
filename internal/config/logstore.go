package config

import (
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// The log engines of [log-store].
var LogEngines = []string{"local", "nats"}

// Defaults of [log-store].
const (
	DefaultLogEngine      = "local"
	DefaultStreamReplicas = 3
	DefaultStreamPrefix   = "influxgate"
	DefaultLeaseTTL       = 3 * time.Second
)

// LogStoreConfig is the [log-store] table: where the durable write log
// lives. "local" keeps it in files under data-dir, one log per node; "nats"
// keeps it in NATS JetStream streams replicated across NATS servers, so
// that influxgate nodes keep no state of their own (docs/deployment.md,
// "Stateless nodes").
type LogStoreConfig struct {
	// Engine is "local" (default) or "nats" (key "engine").
	Engine string
	// URLs are the NATS servers to connect to (key "urls"), e.g.
	// "nats://n1:4222"; "tls://" asks for TLS.
	URLs []string
	// StreamReplicas is how many NATS servers store each stream (key
	// "stream-replicas"; default 3). A write is acknowledged once a
	// majority of them stored it.
	StreamReplicas int
	// StreamPrefix starts the names of every stream, key-value bucket
	// and subject influxgate creates (key "stream-prefix"; default
	// "influxgate"), so that several influxgate deployments can share one
	// NATS cluster.
	StreamPrefix string
	// Credentials is a NATS credentials file (user JWT and NKey seed;
	// key "credentials").
	Credentials string
	// Username and Password authenticate with user and password (keys
	// "username", "password"); Token with a token (key "token").
	Username string
	Password string
	Token    string
	// TLSCert and TLSKey are a client certificate for mutual TLS (keys
	// "tls-cert", "tls-key"); CAFile the CA bundle that signs the servers'
	// certificates (key "ca-file"). Any of them turns TLS on.
	TLSCert string
	TLSKey  string
	CAFile  string
	// LeaseTTL is how long a node's claim to deliver to a backend lasts
	// without renewal (key "lease-ttl"; default 3s): when a node dies,
	// another takes its backends over within about this long.
	LeaseTTL time.Duration
}

// NATS reports whether the log lives in NATS JetStream.
func (l LogStoreConfig) NATS() bool { return l.Engine == "nats" }

// TLS reports whether the connection to NATS uses TLS.
func (l LogStoreConfig) TLS() bool { return l.TLSCert != "" || l.CAFile != "" }

func defaultLogStore() LogStoreConfig {
	return LogStoreConfig{Engine: DefaultLogEngine, StreamReplicas: DefaultStreamReplicas,
		StreamPrefix: DefaultStreamPrefix, LeaseTTL: DefaultLeaseTTL}
}

type logStoreTOML struct {
	Engine         *string      `toml:"engine"`
	URLs           []string     `toml:"urls"`
	StreamReplicas *int         `toml:"stream-replicas"`
	StreamPrefix   *string      `toml:"stream-prefix"`
	Credentials    string       `toml:"credentials"`
	Username       string       `toml:"username"`
	Password       string       `toml:"password"`
	Token          string       `toml:"token"`
	TLSCert        string       `toml:"tls-cert"`
	TLSKey         string       `toml:"tls-key"`
	CAFile         string       `toml:"ca-file"`
	LeaseTTL       durationText `toml:"lease-ttl"`
}

func (c *converter) logStore(raw logStoreTOML, dst *LogStoreConfig) {
	setString(&dst.Engine, raw.Engine)
	setString(&dst.StreamPrefix, raw.StreamPrefix)
	if raw.StreamReplicas != nil {
		dst.StreamReplicas = *raw.StreamReplicas
	}
	dst.URLs = raw.URLs
	dst.Credentials, dst.Username, dst.Password, dst.Token = raw.Credentials, raw.Username, raw.Password, raw.Token
	dst.TLSCert, dst.TLSKey, dst.CAFile = raw.TLSCert, raw.TLSKey, raw.CAFile
	c.duration("log-store.lease-ttl", raw.LeaseTTL, &dst.LeaseTTL)
}

// streamPrefixRE: stream, bucket and subject names must stay plain tokens.
var streamPrefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func (c *Config) validateLogStore(p *problems) {
	l := &c.LogStore
	oneOf(p, "log-store.engine", l.Engine, LogEngines)
	if !l.NATS() {
		if len(l.URLs) > 0 {
			p.add("log-store.urls", `is used only with engine = "nats"`)
		}
		return
	}
	if len(l.URLs) == 0 {
		p.add("log-store.urls", `must list at least one NATS server with engine = "nats", e.g. ["nats://n1:4222"]`)
	}
	for i, s := range l.URLs {
		u, err := url.Parse(s)
		switch {
		case err != nil:
			p.add(fmt.Sprintf("log-store.urls[%d]", i), "not a URL: %v", err)
		case u.Scheme != "nats" && u.Scheme != "tls":
			p.add(fmt.Sprintf("log-store.urls[%d]", i), `want a nats:// or tls:// URL such as "nats://n1:4222", got %q`, s)
		case u.Host == "":
			p.add(fmt.Sprintf("log-store.urls[%d]", i), "has no host: %q", s)
		}
	}
	if l.StreamReplicas < 1 || l.StreamReplicas > 5 {
		p.add("log-store.stream-replicas", "want 1 to 5 (JetStream's limit), got %d", l.StreamReplicas)
	}
	if !streamPrefixRE.MatchString(l.StreamPrefix) {
		p.add("log-store.stream-prefix", "want 1 to 32 letters, digits, '-' or '_', got %q", l.StreamPrefix)
	}
	if (l.TLSCert == "") != (l.TLSKey == "") {
		p.add("log-store.tls-key", "tls-cert and tls-key go together")
	}
	if l.Token != "" && (l.Username != "" || l.Credentials != "") {
		p.add("log-store.token", "set one of token, username/password or credentials")
	}
	if l.Username != "" && l.Credentials != "" {
		p.add("log-store.username", "set one of token, username/password or credentials")
	}
	if (l.Username == "") != (l.Password == "") {
		p.add("log-store.password", "username and password go together")
	}
	readable(p, "log-store.credentials", l.Credentials)
	readable(p, "log-store.tls-cert", l.TLSCert)
	readable(p, "log-store.tls-key", l.TLSKey)
	readable(p, "log-store.ca-file", l.CAFile)
	if l.LeaseTTL < time.Second {
		p.add("log-store.lease-ttl", "must be at least 1s, got %s", l.LeaseTTL)
	}
}

// warnings says what a valid [log-store] does not protect against.
func (l LogStoreConfig) warnings() []string {
	if !l.NATS() {
		return nil
	}
	switch l.StreamReplicas {
	case 1:
		return []string{"log-store.stream-replicas = 1: the log is kept by one NATS server; losing its disk loses acknowledged writes not yet delivered (use 3)"}
	case 2:
		return []string{"log-store.stream-replicas = 2: a quorum of 2 is both servers; writes stop being accepted while either is down (use 3)"}
	}
	return nil
}
