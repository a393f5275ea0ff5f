package config

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/influxgate/influxgate/internal/wal"
)

// The accepted values of the enumerated keys.
var (
	SyncModes         = []string{"always", "batch", "none"}
	ConsistencyLevels = []string{"any", "one", "quorum", "all"}
	OverflowPolicies  = []string{"drop-oldest", "reject"}
	AuthModes         = []string{"pass-through", "gateway"}
	QueryStrategies   = []string{"round-robin", "random", "first", "least-latency"}
	LogLevels         = []string{"debug", "info", "warn", "error"}
	LogFormats        = []string{"text", "json"}
	// Precisions are the UDP precisions influxdb-relay and InfluxDB accept;
	// "" means nanoseconds.
	Precisions = []string{"", "n", "u", "ms", "s", "m", "h"}
)

// MaxUDPPayload is the largest UDP payload over IPv4 (65535 - 8 - 20), the
// upper bound for mtu.
const MaxUDPPayload = 65507

// Validate checks the whole config and returns every problem found, each a
// *FieldError naming the key by its path (http[0].output[1].timeout), joined
// with errors.Join; nil if the config is valid. It expects the defaults to be
// applied (Default, then ApplyDefaults), as Load does. It reads the files the
// config names (certificates, CA bundles) to check they are readable.
func (c *Config) Validate() error {
	var p problems
	if c.DataDir == "" {
		p.add("data-dir", "must not be empty")
	}
	oneOf(&p, "sync", c.Sync, SyncModes)
	positive(&p, "sync-interval", c.SyncInterval)
	oneOf(&p, "consistency", c.Consistency, ConsistencyLevels)
	positive(&p, "write-timeout", c.WriteTimeout)
	c.validateWriteMemory(&p)
	positive(&p, "shutdown-timeout", c.ShutdownTimeout)
	if c.ShutdownDelay < 0 {
		p.add("shutdown-delay", "must be 0 or more, got %s", c.ShutdownDelay)
	}
	positive(&p, "dead-letter-after", c.DeadLetterAfter)
	oneOf(&p, "log.level", c.Log.Level, LogLevels)
	oneOf(&p, "log.format", c.Log.Format, LogFormats)
	c.validateLogStore(&p)
	if len(c.HTTP) == 0 && len(c.UDP) == 0 {
		p.add("", "no listeners: add at least one [[http]] or [[udp]] section")
	}
	c.validateNames(&p)
	for i := range c.HTTP {
		validateHTTP(&p, fmt.Sprintf("http[%d]", i), &c.HTTP[i])
	}
	for i := range c.UDP {
		validateUDP(&p, fmt.Sprintf("udp[%d]", i), &c.UDP[i])
	}
	binds := make([]string, len(c.HTTP))
	for i, h := range c.HTTP {
		binds[i] = h.BindAddr
	}
	addressClashes(&p, "http", binds)
	binds = make([]string, len(c.UDP))
	for i, u := range c.UDP {
		binds[i] = u.BindAddr
	}
	addressClashes(&p, "udp", binds)
	return p.err()
}

// writeCopies is how many copies of a body of max-body-size bytes the
// write memory budget must hold at least: a write holds its body as read,
// its stamped copy and the log record built from it.
const writeCopies = 3

// validateWriteMemory checks max-body-size and write-memory-budget-mb
// together: a body must fit in one log record, and the budget must hold
// a write of max-body-size, or such writes could never be accepted.
func (c *Config) validateWriteMemory(p *problems) {
	budget := int64(c.WriteMemoryBudgetMB) << 20
	switch {
	case c.MaxBodySize < 0:
		p.add("max-body-size", "must be >= 0 (0 means no limit), got %d", c.MaxBodySize)
	case c.MaxBodySize > wal.MaxRecordSize:
		p.add("max-body-size", "%d is above %d bytes, the largest write the log holds as one record",
			c.MaxBodySize, wal.MaxRecordSize)
	case c.WriteMemoryBudgetMB > 0 && c.MaxBodySize > budget/writeCopies:
		need := (writeCopies*c.MaxBodySize + 1<<20 - 1) >> 20
		key := "max-body-size"
		if c.MaxBodySize == DefaultMaxBodySize {
			key = "write-memory-budget-mb" // the budget was lowered
		}
		p.add(key, "max-body-size = %d needs write-memory-budget-mb = %d or more (got %d): a write holds its body, "+
			"its stamped copy and its log record at once; raise write-memory-budget-mb or lower max-body-size",
			c.MaxBodySize, need, c.WriteMemoryBudgetMB)
	}
	if c.WriteMemoryBudgetMB < 1 {
		p.add("write-memory-budget-mb", "must be at least 1 (MiB), got %d", c.WriteMemoryBudgetMB)
	}
}

// validateNames checks listener names: present, usable as a directory name
// (each listener's log lives in data-dir/<name>) and unique across [[http]]
// and [[udp]] for the same reason.
func (c *Config) validateNames(p *problems) {
	first := map[string]string{}
	check := func(key, name string) {
		if msg := nameProblem(name); msg != "" {
			p.add(key, "%s", msg)
			return
		}
		if prev, dup := first[name]; dup {
			p.add(key, "listener name %q is also used by %s; names must be unique", name, prev)
			return
		}
		first[name] = strings.TrimSuffix(key, ".name")
	}
	for i, h := range c.HTTP {
		check(fmt.Sprintf("http[%d].name", i), h.Name)
	}
	for i, u := range c.UDP {
		check(fmt.Sprintf("udp[%d].name", i), u.Name)
	}
}

// nameProblem rejects names that cannot serve as one path element.
func nameProblem(name string) string {
	switch {
	case name == "":
		return "must not be empty"
	case name == "." || name == "..":
		return fmt.Sprintf("%q is not a usable name", name)
	case strings.ContainsAny(name, "/\\\x00"):
		return fmt.Sprintf("%q: names must not contain '/', '\\' or NUL (they name directories and metrics)", name)
	}
	return ""
}

func validateHTTP(p *problems, key string, h *HTTPConfig) {
	bindAddr(p, key+".bind-addr", h.BindAddr)
	switch {
	case h.SSLCombinedPEM != "" && (h.TLSCert != "" || h.TLSKey != ""):
		p.add(key+".ssl-combined-pem", "set either ssl-combined-pem or tls-cert and tls-key, not both")
	case h.TLSCert != "" && h.TLSKey == "":
		p.add(key+".tls-key", "required with tls-cert")
	case h.TLSKey != "" && h.TLSCert == "":
		p.add(key+".tls-cert", "required with tls-key")
	}
	readable(p, key+".ssl-combined-pem", h.SSLCombinedPEM)
	readable(p, key+".tls-cert", h.TLSCert)
	readable(p, key+".tls-key", h.TLSKey)
	if h.DefaultPingResponse < 200 || h.DefaultPingResponse > 299 {
		p.add(key+".default-ping-response", "want a 2xx status, got %d", h.DefaultPingResponse)
	}
	if h.MaxConnectionLimit < 0 {
		p.add(key+".max-connection-limit", "want 0 (no limit) or more, got %d", h.MaxConnectionLimit)
	}
	validateAuth(p, key+".auth", &h.Auth)
	oneOf(p, key+".query.strategy", h.Query.Strategy, QueryStrategies)
	positive(p, key+".query.max-lag", h.Query.MaxLag)
	positive(p, key+".query.timeout", h.Query.Timeout)
	if h.Sharded() || h.ShardKey != "" {
		validateShards(p, key, h)
		return
	}
	if len(h.Outputs) == 0 {
		p.add(key+".output", "at least one output is required")
	}
	names := map[string]int{}
	for j := range h.Outputs {
		okey := fmt.Sprintf("%s.output[%d]", key, j)
		outputName(p, okey, h.Outputs[j].Name, names, j)
		validateHTTPOutput(p, okey, &h.Outputs[j])
	}
}

// validateShards checks a sharded listener: a valid shard-key, shards
// instead of outputs, unique shard names, at least one shard that owns
// keys, and output names unique across the listener's shards.
func validateShards(p *problems, key string, h *HTTPConfig) {
	switch tag := h.ShardTag(); {
	case h.ShardKey == "":
		p.add(key+".shard[0]", `[[http.shard]] sections need shard-key = "measurement" or "tag:NAME" on their listener`)
	case h.ShardKey == "measurement":
	case strings.HasPrefix(h.ShardKey, "tag:") && strings.TrimSpace(tag) != "":
	default:
		p.add(key+".shard-key", `want "measurement" or "tag:NAME" (the tag whose value picks the shard), got %q`, h.ShardKey)
	}
	if len(h.Outputs) > 0 {
		p.add(key+".output", "a listener has either output or [[http.shard]] sections, not both; move these outputs into a shard")
	}
	if len(h.Shards) == 0 {
		p.add(key+".shard-key", "set, but the listener has no [[http.shard]] sections")
	}
	shardNames := map[string]int{}
	outputs := map[string]string{}
	owners := 0
	for j := range h.Shards {
		s := &h.Shards[j]
		skey := fmt.Sprintf("%s.shard[%d]", key, j)
		if msg := nameProblem(s.Name); msg != "" {
			p.add(skey+".name", "%s", msg)
		} else if prev, dup := shardNames[s.Name]; dup {
			p.add(skey+".name", "shard name %q is also used by shard[%d]; names must be unique", s.Name, prev)
		} else {
			shardNames[s.Name] = j
		}
		if !s.Retire {
			owners++
		}
		if len(s.Outputs) == 0 {
			p.add(skey+".output", "at least one output is required")
		}
		for k := range s.Outputs {
			o := &s.Outputs[k]
			okey := fmt.Sprintf("%s.output[%d]", skey, k)
			if msg := nameProblem(o.Name); msg != "" {
				p.add(okey+".name", "%s", msg)
			} else if prev, dup := outputs[o.Name]; dup {
				p.add(okey+".name", "output name %q is also used by %s; output names must be unique across a listener's shards", o.Name, prev)
			} else {
				outputs[o.Name] = okey
			}
			validateHTTPOutput(p, okey, o)
		}
	}
	if len(h.Shards) > 0 && owners == 0 {
		p.add(key+".shard[0].retire", "every shard has retire = true: at least one shard must own keys")
	}
}

func validateAuth(p *problems, key string, a *AuthConfig) {
	oneOf(p, key+".mode", a.Mode, AuthModes)
	if a.Mode == "gateway" && len(a.Tokens) == 0 && len(a.Users) == 0 {
		p.add(key, `mode = "gateway" needs at least one entry in tokens or users`)
	}
	if a.Mode == "pass-through" && (len(a.Tokens) > 0 || len(a.Users) > 0) {
		p.add(key+".mode", `tokens and users are only checked with mode = "gateway"; `+
			`in pass-through mode they would be silently unused`)
	}
	if a.TokenRights&^allRights != 0 {
		p.add(key+".token-rights", "unknown rights bits %#x", uint8(a.TokenRights))
	}
	if a.TokenRights != 0 && len(a.Tokens) == 0 {
		p.add(key+".token-rights", "set, but there are no tokens")
	}
	// A blank secret is no secret: " " as a token would let in anyone who
	// sends p=%20. Surrounding whitespace is refused too, because clients
	// trim it from "Authorization: Token ..." and such a token would work
	// in some forms and not in others.
	seen := map[string]bool{}
	for i, t := range a.Tokens {
		k := fmt.Sprintf("%s.tokens[%d]", key, i)
		switch {
		case strings.TrimSpace(t) == "":
			p.add(k, "must not be empty or only whitespace")
		case strings.TrimSpace(t) != t:
			p.add(k, "has leading or trailing whitespace, which an \"Authorization: Token\" header cannot carry; remove it")
		case seen[t]:
			p.add(k, "duplicate token")
		}
		seen[t] = true
	}
	users := map[string]bool{}
	for i, u := range a.Users {
		k := fmt.Sprintf("%s.users[%d]", key, i)
		if strings.TrimSpace(u.Username) == "" {
			p.add(k+".username", "must not be empty or only whitespace")
		} else if users[u.Username] {
			p.add(k+".username", "duplicate user %q", u.Username)
		}
		users[u.Username] = true
		if strings.TrimSpace(u.Password) == "" {
			p.add(k+".password", "must not be empty or only whitespace")
		}
		if u.Rights&^allRights != 0 {
			p.add(k+".rights", "unknown rights bits %#x", uint8(u.Rights))
		}
	}
}

func validateUDP(p *problems, key string, u *UDPConfig) {
	bindAddr(p, key+".bind-addr", u.BindAddr)
	if u.ReadBuffer < 0 {
		p.add(key+".read-buffer", "must be >= 0 (0 means the OS default), got %d", u.ReadBuffer)
	}
	oneOf(p, key+".precision", u.Precision, Precisions)
	if u.RetentionPolicy != "" && u.Database == "" {
		p.add(key+".retention-policy", "needs database: the UDP protocol carries no database, so retention-policy applies to the database set here")
	}
	if len(u.Outputs) == 0 {
		p.add(key+".output", "at least one output is required")
	}
	names := map[string]int{}
	for j := range u.Outputs {
		o := &u.Outputs[j]
		okey := fmt.Sprintf("%s.output[%d]", key, j)
		outputName(p, okey, o.Name, names, j)
		if !isHTTPURL(o.Location) {
			validateUDPOutput(p, okey, o)
			continue
		}
		if u.Database == "" {
			p.add(okey+".location", "an http(s) output on a UDP listener needs database set on the listener (UDP packets name no database)")
		}
		validateHTTPOutput(p, okey, o)
	}
}

func outputName(p *problems, key, name string, seen map[string]int, j int) {
	if msg := nameProblem(name); msg != "" {
		p.add(key+".name", "%s", msg)
		return
	}
	if prev, dup := seen[name]; dup {
		p.add(key+".name", "output name %q is also used by output[%d]; names must be unique within a listener", name, prev)
		return
	}
	seen[name] = j
}

func validateHTTPOutput(p *problems, key string, o *OutputConfig) {
	u, err := o.Location.URL()
	switch {
	case o.Location == "":
		p.add(key+".location", "required: the backend's write URL, e.g. http://127.0.0.1:8086/write")
	case !strings.Contains(string(o.Location), "://"):
		p.add(key+".location", "want an http:// or https:// URL with a host, got %q", o.Location)
	case err != nil:
		p.add(key+".location", "%v", err)
	case !isHTTPScheme(u.Scheme) || u.Host == "":
		p.add(key+".location", "want an http:// or https:// URL with a host, got %q", o.Location)
	case u.RawQuery != "" || u.Fragment != "":
		p.add(key+".location", "must not carry a query or fragment (influxdb-relay dropped it); use username/password or token for credentials")
	default:
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				p.add(key+".location", "port %q is not a number in 1..65535", port)
			}
		} else if strings.HasSuffix(u.Host, ":") {
			p.add(key+".location", "empty port in %q", o.Location)
		}
	}
	positive(p, key+".timeout", o.Timeout)
	positive(p, key+".max-delay-interval", o.MaxDelayInterval)
	if o.BufferSizeMB < 0 {
		p.add(key+".buffer-size-mb", "must be >= 0 (0 means no cap but the disk), got %d", o.BufferSizeMB)
	}
	if o.MaxBatchKB < 0 {
		p.add(key+".max-batch-kb", "must be >= 0, got %d", o.MaxBatchKB)
	}
	oneOf(p, key+".overflow", o.Overflow, OverflowPolicies)
	if o.MTU != 0 {
		p.add(key+".mtu", "applies only to UDP outputs (a host:port location)")
	}
	readable(p, key+".ca-file", o.CAFile)
	if o.CAFile != "" && err == nil && strings.EqualFold(u.Scheme, "http") {
		p.add(key+".ca-file", "set, but the location is plain http")
	}
	switch {
	case o.Username != "" && o.Password == "":
		p.add(key+".password", "required with username")
	case o.Password != "" && o.Username == "":
		p.add(key+".username", "required with password")
	}
	if o.Token != "" && o.Username != "" {
		p.add(key+".token", "set either token (2.x) or username/password (1.x), not both")
	}
}

func validateUDPOutput(p *problems, key string, o *OutputConfig) {
	if o.Location == "" {
		p.add(key+".location", "required: the backend's UDP host:port")
	} else if msg := hostPortProblem(o.Location.String(), false, false); msg != "" {
		p.add(key+".location", "want host:port (or an http(s) URL when the listener sets database): %s", msg)
	}
	if o.MTU < 1 || o.MTU > MaxUDPPayload {
		p.add(key+".mtu", "want 1..%d, got %d", MaxUDPPayload, o.MTU)
	}
	httpOnly := []struct {
		key string
		set bool
	}{
		{"timeout", o.Timeout != 0},
		{"buffer-size-mb", o.BufferSizeMB != 0},
		{"max-batch-kb", o.MaxBatchKB != 0},
		{"max-delay-interval", o.MaxDelayInterval != 0},
		{"skip-tls-verification", o.SkipTLSVerification},
		{"ca-file", o.CAFile != ""},
		{"username", o.Username != ""},
		{"password", o.Password != ""},
		{"token", o.Token != ""},
		{"org", o.Org != ""},
		{"overflow", o.Overflow != ""},
	}
	for _, f := range httpOnly {
		if f.set {
			p.add(key+"."+f.key, "applies only to HTTP outputs; this output forwards UDP packets")
		}
	}
}

func bindAddr(p *problems, key, addr string) {
	if addr == "" {
		p.add(key, "required: host:port to listen on, e.g. 127.0.0.1:9096")
		return
	}
	if msg := hostPortProblem(addr, true, true); msg != "" {
		p.add(key, "want host:port: %s", msg)
	}
}

// addressClashes reports listeners of one network that would bind the same
// address: the same port with equal hosts, or with either host a wildcard.
// Port 0 (ephemeral) never clashes.
func addressClashes(p *problems, network string, addrs []string) {
	for j := range addrs {
		for i := range j {
			if bindsOverlap(addrs[i], addrs[j]) {
				p.add(fmt.Sprintf("%s[%d].bind-addr", network, j),
					"%q clashes with %s[%d].bind-addr %q: two %s listeners cannot share an address",
					addrs[j], network, i, addrs[i], network)
				break
			}
		}
	}
}

func bindsOverlap(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return wild(ha) || wild(hb) || strings.EqualFold(ha, hb)
}

func oneOf(p *problems, key, v string, allowed []string) {
	if !slices.Contains(allowed, v) {
		var quoted []string
		for _, a := range allowed {
			if a != "" {
				quoted = append(quoted, strconv.Quote(a))
			}
		}
		p.add(key, "want one of %s, got %q", strings.Join(quoted, ", "), v)
	}
}

func positive(p *problems, key string, d time.Duration) {
	if d <= 0 {
		p.add(key, "must be greater than 0, got %s", d)
	}
}

// readable checks that a file named by the config can be opened for reading.
func readable(p *problems, key, path string) {
	if path == "" {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		p.add(key, "cannot read %q: %v", path, unwrapPathError(err))
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		p.add(key, "%q is a directory, want a PEM file", path)
	}
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
