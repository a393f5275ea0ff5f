package config

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	toml "github.com/pelletier/go-toml/v2"
)

// The TOML file as written. It mirrors Config, but keeps what Config cannot:
// whether a top-level key was present (pointers), durations as text so that a
// bad one is reported with its key and line instead of aborting the decode,
// and the influxdb-relay spellings (http-user, http-pass) and fork keys.

type fileTOML struct {
	DataDir         *string      `toml:"data-dir"`
	Sync            *string      `toml:"sync"`
	SyncInterval    durationText `toml:"sync-interval"`
	Consistency     *string      `toml:"consistency"`
	WriteTimeout    durationText `toml:"write-timeout"`
	MaxBodySize     *int64       `toml:"max-body-size"`
	WriteMemoryMB   *int         `toml:"write-memory-budget-mb"`
	ShutdownTimeout durationText `toml:"shutdown-timeout"`
	ShutdownDelay   durationText `toml:"shutdown-delay"`
	DeadLetterAfter durationText `toml:"dead-letter-after"`
	CQBackfill      *bool        `toml:"cq-backfill"`
	Log             logTOML      `toml:"log"`
	LogStore        logStoreTOML `toml:"log-store"`
	Debug           debugTOML    `toml:"debug"`
	HTTP            []httpTOML   `toml:"http"`
	UDP             []udpTOML    `toml:"udp"`
}

type logTOML struct {
	Level  *string `toml:"level"`
	Format *string `toml:"format"`
}

type debugTOML struct {
	PProf bool `toml:"pprof"`
}

type httpTOML struct {
	Name                   string       `toml:"name"`
	BindAddr               string       `toml:"bind-addr"`
	SSLCombinedPEM         string       `toml:"ssl-combined-pem"`
	TLSCert                string       `toml:"tls-cert"`
	TLSKey                 string       `toml:"tls-key"`
	DefaultRetentionPolicy string       `toml:"default-retention-policy"`
	DefaultPingResponse    int          `toml:"default-ping-response"`
	MaxConnectionLimit     int          `toml:"max-connection-limit"`
	RateLimit              int          `toml:"rate-limit"`        // fork key, ignored
	BurstLimit             int          `toml:"burst-limit"`       // fork key, ignored
	HealthTimeoutMS        int64        `toml:"health-timeout-ms"` // fork key, ignored
	Auth                   authTOML     `toml:"auth"`
	Query                  queryTOML    `toml:"query"`
	Outputs                []outputTOML `toml:"output"`
	ShardKey               string       `toml:"shard-key"`
	Shards                 []shardTOML  `toml:"shard"`
}

type shardTOML struct {
	Name    string       `toml:"name"`
	Retire  bool         `toml:"retire"`
	Outputs []outputTOML `toml:"output"`
}

type queryTOML struct {
	Strategy        string       `toml:"strategy"`
	MaxLag          durationText `toml:"max-lag"`
	AllowStaleReads bool         `toml:"allow-stale-reads"`
	Timeout         durationText `toml:"timeout"`
}

type authTOML struct {
	Mode        string     `toml:"mode"`
	Tokens      []string   `toml:"tokens"`
	TokenRights []string   `toml:"token-rights"`
	Users       []userTOML `toml:"users"`
}

type userTOML struct {
	Username string   `toml:"username"`
	Password string   `toml:"password"`
	Rights   []string `toml:"rights"`
}

type outputTOML struct {
	Name                string       `toml:"name"`
	Location            string       `toml:"location"`
	Timeout             durationText `toml:"timeout"`
	BufferSizeMB        int          `toml:"buffer-size-mb"`
	MaxBatchKB          int          `toml:"max-batch-kb"`
	MaxDelayInterval    durationText `toml:"max-delay-interval"`
	SkipTLSVerification bool         `toml:"skip-tls-verification"`
	CAFile              string       `toml:"ca-file"`
	Username            string       `toml:"username"`
	Password            string       `toml:"password"`
	Token               string       `toml:"token"`
	Org                 string       `toml:"org"`
	Overflow            string       `toml:"overflow"`
	MTU                 int          `toml:"mtu"`
	HTTPUser            string       `toml:"http-user"` // influxdb-relay's name for username
	HTTPPass            string       `toml:"http-pass"` // influxdb-relay's name for password
	Admin               string       `toml:"admin"`     // fork key, ignored
	Type                string       `toml:"type"`      // fork key: only "influxdb"
}

type udpTOML struct {
	Name            string       `toml:"name"`
	BindAddr        string       `toml:"bind-addr"`
	ReadBuffer      int          `toml:"read-buffer"`
	Precision       string       `toml:"precision"`
	Database        string       `toml:"database"`
	RetentionPolicy string       `toml:"retention-policy"`
	Outputs         []outputTOML `toml:"output"`
}

// durationText holds a duration as written; convert parses it so that every
// bad duration is reported, each with its key and line.
type durationText struct {
	raw string
	set bool
}

// UnmarshalText implements encoding.TextUnmarshaler; it never fails.
func (d *durationText) UnmarshalText(b []byte) error {
	d.raw, d.set = string(b), true
	return nil
}

// relayKeys are the keys of influxdb-relay's format (upstream, including
// http-user/http-pass and default-ping-response, and the vente-privee fork's
// per-listener and per-output extras). A TOML file that uses only these is
// recorded as FormatRelay.
var relayKeys = setOf(
	"http", "http.name", "http.bind-addr", "http.ssl-combined-pem",
	"http.default-retention-policy", "http.default-ping-response",
	"http.rate-limit", "http.burst-limit", "http.health-timeout-ms",
	"http.output", "http.output.name", "http.output.location", "http.output.timeout",
	"http.output.buffer-size-mb", "http.output.max-batch-kb", "http.output.max-delay-interval",
	"http.output.skip-tls-verification", "http.output.http-user", "http.output.http-pass",
	"http.output.admin", "http.output.type",
	"udp", "udp.name", "udp.bind-addr", "udp.read-buffer", "udp.precision",
	"udp.output", "udp.output.name", "udp.output.location", "udp.output.mtu",
)

// ignoredTOMLKeys are accepted for compatibility with the vente-privee fork
// of influxdb-relay and have no effect; Warnings() lists them with the reason.
var ignoredTOMLKeys = map[string]string{
	"http.rate-limit":        "influxgate does not rate-limit writes; every accepted write is logged and delivered",
	"http.burst-limit":       "influxgate does not rate-limit writes; every accepted write is logged and delivered",
	"http.health-timeout-ms": "influxgate's /health reports each backend from its delivery state, not a probe with this timeout",
	"http.output.admin":      "influxgate sends schema changes (CREATE, DROP, ...) from /query to every output itself",
	"http.output.type":       `only "influxdb" outputs exist in influxgate`,
}

func setOf(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// decodeTOML decodes a native or influxdb-relay TOML file. It returns the
// config (top-level defaults applied), the key-position index and every
// problem found while decoding; fatal means the config could not be decoded
// at all (syntax or type error) and must not be validated.
func decodeTOML(name string, data []byte) (cfg Config, idx *posIndex, probs problems, fatal bool) {
	idx = indexTOML(data)
	var raw fileTOML
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(&raw)

	var strict *toml.StrictMissingError
	var decErr *toml.DecodeError
	switch {
	case err == nil:
	case errors.As(err, &strict):
		for _, e := range strict.Errors {
			line, col := e.Position()
			path := idx.keyAt(line, col)
			if path == "" {
				path = strings.Join(e.Key(), ".")
			}
			probs = append(probs, unknownKey(name, line, path))
		}
	case errors.As(err, &decErr):
		line, col := decErr.Position()
		fe := &FieldError{File: name, Line: line, Msg: tomlMessage(decErr.Error())}
		if len(decErr.Key()) > 0 {
			if fe.Key = idx.keyAt(line, col); fe.Key == "" {
				fe.Key = strings.Join(decErr.Key(), ".")
			}
		}
		return Config{}, idx, append(probs, fe), true
	default:
		return Config{}, idx, append(probs, &FieldError{File: name, Msg: err.Error()}), true
	}

	c := converter{name: name, idx: idx}
	cfg = c.config(&raw)
	cfg.Source = Source{Path: name, Format: FormatNative}
	if usesOnly(idx.schemaKeys(), relayKeys) {
		cfg.Source.Format = FormatRelay
	}
	for _, e := range idx.entries {
		if why, ok := ignoredTOMLKeys[schemaPath(e.path)]; ok && e.isKey {
			cfg.Source.Ignored = append(cfg.Source.Ignored, e.path+": accepted, not used: "+why)
		}
	}
	return cfg, idx, append(probs, c.probs...), false
}

func usesOnly(used, allowed map[string]bool) bool {
	if len(used) == 0 {
		return false
	}
	for k := range used {
		if !allowed[k] {
			return false
		}
	}
	return true
}

// unknownKey builds the error for a key the schema does not have, naming the
// section it is in and suggesting the nearest known key.
func unknownKey(file string, line int, path string) *FieldError {
	parent := schemaPath(parentPath(path))
	key := lastKey(path)
	msg := fmt.Sprintf("unknown key %q in %s", key, sectionName(parent))
	if s := suggest(key, tomlKnownKeys[parent]); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return &FieldError{File: file, Line: line, Key: path, Msg: msg, Unknown: true}
}

// sectionName names a schema path the way the file spells the section.
func sectionName(schema string) string {
	switch schema {
	case "":
		return "the top level"
	case "http", "udp":
		return "[[" + schema + "]]"
	case "http.output", "udp.output":
		return "[[" + strings.TrimSuffix(schema, ".output") + "]] output"
	case "http.shard":
		return "[[http.shard]]"
	case "http.shard.output":
		return "[[http.shard]] output"
	case "http.auth.users":
		return "[http.auth] users"
	}
	return "[" + schema + "]"
}

var tomlTypeRE = regexp.MustCompile(`^cannot decode TOML (\S+) into struct field \S+ of type (\S+)$`)

// tomlMessage rewrites go-toml's type errors in the user's terms.
func tomlMessage(msg string) string {
	msg = strings.TrimPrefix(msg, "toml: ")
	m := tomlTypeRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	return fmt.Sprintf("want %s, got a TOML %s", goTypeWords(m[2]), m[1])
}

func goTypeWords(t string) string {
	t = strings.TrimPrefix(t, "*")
	switch {
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int"):
		return "an integer"
	case t == "config.durationText":
		return `a duration string such as "10s"`
	case t == "[]string":
		return "an array of strings"
	case strings.HasPrefix(t, "[]"):
		return "an array of tables"
	}
	return "a table"
}

// converter copies the decoded file into a Config, parsing durations and
// translating influxdb-relay spellings, and records problems with lines.
type converter struct {
	name  string
	idx   *posIndex
	probs problems
}

func (c *converter) add(key, format string, args ...any) {
	c.probs = append(c.probs, &FieldError{File: c.name, Line: c.idx.lineFor(key), Key: key,
		Msg: fmt.Sprintf(format, args...)})
}

// duration parses d into *dst when the key was present. A zero or negative
// value is an error here because ApplyDefaults would otherwise mask it.
func (c *converter) duration(key string, d durationText, dst *time.Duration) {
	if !d.set {
		return
	}
	v, err := time.ParseDuration(d.raw)
	switch {
	case err != nil:
		c.add(key, `invalid duration %q: want a number with a unit, such as "10s" or "100ms"`, d.raw)
	case v <= 0:
		c.add(key, "must be greater than 0, got %q", d.raw)
	default:
		*dst = v
	}
}

// durationOrZero is duration for a key where 0 means "none" (a negative
// value is still an error).
func (c *converter) durationOrZero(key string, d durationText, dst *time.Duration) {
	if !d.set {
		return
	}
	v, err := time.ParseDuration(d.raw)
	switch {
	case err != nil:
		c.add(key, `invalid duration %q: want a number with a unit, such as "5s", or "0s" for none`, d.raw)
	case v < 0:
		c.add(key, "must be 0 or more, got %q", d.raw)
	default:
		*dst = v
	}
}

// rights parses a "rights" list; an absent key (nil) gives zero, which
// means the default.
func (c *converter) rights(key string, names []string) Rights {
	if names == nil {
		return 0
	}
	r, err := ParseRights(names)
	if err != nil {
		c.add(key, "%v", err)
	}
	return r
}

func (c *converter) config(raw *fileTOML) Config {
	cfg := Default()
	setString(&cfg.DataDir, raw.DataDir)
	setString(&cfg.Sync, raw.Sync)
	setString(&cfg.Consistency, raw.Consistency)
	setString(&cfg.Log.Level, raw.Log.Level)
	setString(&cfg.Log.Format, raw.Log.Format)
	cfg.Debug.PProf = raw.Debug.PProf
	if raw.CQBackfill != nil {
		cfg.CQBackfill = *raw.CQBackfill
	}
	if raw.MaxBodySize != nil {
		cfg.MaxBodySize = *raw.MaxBodySize
	}
	if raw.WriteMemoryMB != nil {
		cfg.WriteMemoryBudgetMB = *raw.WriteMemoryMB
	}
	c.duration("sync-interval", raw.SyncInterval, &cfg.SyncInterval)
	c.duration("write-timeout", raw.WriteTimeout, &cfg.WriteTimeout)
	c.duration("shutdown-timeout", raw.ShutdownTimeout, &cfg.ShutdownTimeout)
	c.durationOrZero("shutdown-delay", raw.ShutdownDelay, &cfg.ShutdownDelay)
	c.duration("dead-letter-after", raw.DeadLetterAfter, &cfg.DeadLetterAfter)
	c.logStore(raw.LogStore, &cfg.LogStore)

	for i, h := range raw.HTTP {
		key := fmt.Sprintf("http[%d]", i)
		hc := HTTPConfig{
			Name:                   h.Name,
			BindAddr:               h.BindAddr,
			SSLCombinedPEM:         h.SSLCombinedPEM,
			TLSCert:                h.TLSCert,
			TLSKey:                 h.TLSKey,
			DefaultRetentionPolicy: h.DefaultRetentionPolicy,
			DefaultPingResponse:    h.DefaultPingResponse,
			MaxConnectionLimit:     h.MaxConnectionLimit,
			Auth:                   AuthConfig{Mode: h.Auth.Mode, Tokens: h.Auth.Tokens},
		}
		hc.Auth.TokenRights = c.rights(key+".auth.token-rights", h.Auth.TokenRights)
		for j, u := range h.Auth.Users {
			hc.Auth.Users = append(hc.Auth.Users, UserAuth{Username: u.Username, Password: u.Password,
				Rights: c.rights(fmt.Sprintf("%s.auth.users[%d].rights", key, j), u.Rights)})
		}
		hc.Query.Strategy, hc.Query.AllowStaleReads = h.Query.Strategy, h.Query.AllowStaleReads
		c.duration(key+".query.max-lag", h.Query.MaxLag, &hc.Query.MaxLag)
		c.duration(key+".query.timeout", h.Query.Timeout, &hc.Query.Timeout)
		hc.Outputs = c.outputs(key, h.Outputs)
		hc.ShardKey = h.ShardKey
		for j, s := range h.Shards {
			hc.Shards = append(hc.Shards, ShardConfig{Name: s.Name, Retire: s.Retire,
				Outputs: c.outputs(fmt.Sprintf("%s.shard[%d]", key, j), s.Outputs)})
		}
		cfg.HTTP = append(cfg.HTTP, hc)
	}
	for i, u := range raw.UDP {
		key := fmt.Sprintf("udp[%d]", i)
		cfg.UDP = append(cfg.UDP, UDPConfig{
			Name:            u.Name,
			BindAddr:        u.BindAddr,
			ReadBuffer:      u.ReadBuffer,
			Precision:       u.Precision,
			Database:        u.Database,
			RetentionPolicy: u.RetentionPolicy,
			Outputs:         c.outputs(key, u.Outputs),
		})
	}
	return cfg
}

func (c *converter) outputs(listener string, outs []outputTOML) []OutputConfig {
	var res []OutputConfig
	for j, o := range outs {
		key := fmt.Sprintf("%s.output[%d]", listener, j)
		oc := OutputConfig{
			Name:                o.Name,
			Location:            Location(o.Location),
			BufferSizeMB:        o.BufferSizeMB,
			MaxBatchKB:          o.MaxBatchKB,
			SkipTLSVerification: o.SkipTLSVerification,
			CAFile:              o.CAFile,
			Username:            o.Username,
			Password:            o.Password,
			Token:               o.Token,
			Org:                 o.Org,
			Overflow:            o.Overflow,
			MTU:                 o.MTU,
		}
		c.duration(key+".timeout", o.Timeout, &oc.Timeout)
		c.duration(key+".max-delay-interval", o.MaxDelayInterval, &oc.MaxDelayInterval)
		if o.HTTPUser != "" {
			if o.Username != "" {
				c.add(key+".http-user", "set either http-user (influxdb-relay's name) or username, not both")
			}
			oc.Username = o.HTTPUser
		}
		if o.HTTPPass != "" {
			if o.Password != "" {
				c.add(key+".http-pass", "set either http-pass (influxdb-relay's name) or password, not both")
			}
			oc.Password = o.HTTPPass
		}
		if o.Type != "" && o.Type != "influxdb" {
			c.add(key+".type", `%q is not supported: influxgate outputs take InfluxDB line protocol ("influxdb")`, o.Type)
		}
		res = append(res, oc)
	}
	return res
}

func setString(dst *string, src *string) {
	if src != nil {
		*dst = *src
	}
}
