package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// validConfig is a small valid config built in code, defaults applied.
func validConfig() Config {
	c := Default()
	c.HTTP = []HTTPConfig{{
		Name:     "h",
		BindAddr: "127.0.0.1:9096",
		Outputs: []OutputConfig{
			{Name: "a", Location: "http://127.0.0.1:8086/write"},
			{Name: "b", Location: "https://127.0.0.1:7086/api/v2/write"},
		},
	}}
	c.UDP = []UDPConfig{{
		Name:     "u",
		BindAddr: "127.0.0.1:8089",
		Outputs:  []OutputConfig{{Name: "a", Location: "127.0.0.1:8090"}},
	}}
	c.ApplyDefaults()
	return c
}

func TestValidConfigHasNoProblems(t *testing.T) {
	c := validConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}

func TestValidateReportsEachProblem(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(pem, []byte("not checked for content"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	h := func(c *Config) *HTTPConfig { return &c.HTTP[0] }
	ho := func(c *Config) *OutputConfig { return &c.HTTP[0].Outputs[0] }
	u := func(c *Config) *UDPConfig { return &c.UDP[0] }
	uo := func(c *Config) *OutputConfig { return &c.UDP[0].Outputs[0] }

	tests := []struct {
		name   string
		mutate func(c *Config)
		key    string // "" with ok: no problem expected
		want   string
		ok     bool
	}{
		// Top level.
		{name: "empty data-dir", mutate: func(c *Config) { c.DataDir = "" }, key: "data-dir", want: "must not be empty"},
		{name: "sync", mutate: func(c *Config) { c.Sync = "sometimes" }, key: "sync", want: `want one of "always", "batch", "none", got "sometimes"`},
		{name: "sync-interval", mutate: func(c *Config) { c.SyncInterval = 0 }, key: "sync-interval", want: "must be greater than 0"},
		{name: "consistency", mutate: func(c *Config) { c.Consistency = "most" }, key: "consistency", want: `"quorum"`},
		{name: "write-timeout", mutate: func(c *Config) { c.WriteTimeout = -time.Second }, key: "write-timeout", want: "greater than 0"},
		{name: "max-body-size", mutate: func(c *Config) { c.MaxBodySize = -1 }, key: "max-body-size", want: ">= 0"},
		{name: "max-body-size 0 is no limit", mutate: func(c *Config) { c.MaxBodySize = 0 }, ok: true},
		{name: "max-body-size above a log record", mutate: func(c *Config) { c.MaxBodySize, c.WriteMemoryBudgetMB = 256<<20+1, 1024 },
			key: "max-body-size", want: "268435457 is above 268435456 bytes, the largest write the log holds as one record"},
		{name: "max-body-size at a log record", mutate: func(c *Config) { c.MaxBodySize, c.WriteMemoryBudgetMB = 256<<20, 768 }, ok: true},
		{name: "max-body-size above the write memory budget", mutate: func(c *Config) { c.MaxBodySize = 50_000_000 },
			key: "max-body-size", want: "max-body-size = 50000000 needs write-memory-budget-mb = 144 or more (got 128)"},
		{name: "write memory budget lowered below max-body-size", mutate: func(c *Config) { c.WriteMemoryBudgetMB = 64 },
			key: "write-memory-budget-mb", want: "max-body-size = 25000000 needs write-memory-budget-mb = 72 or more (got 64)"},
		{name: "write memory budget without max-body-size", mutate: func(c *Config) { c.MaxBodySize, c.WriteMemoryBudgetMB = 0, 1 }, ok: true},
		{name: "write memory budget 0", mutate: func(c *Config) { c.MaxBodySize, c.WriteMemoryBudgetMB = 0, 0 },
			key: "write-memory-budget-mb", want: "must be at least 1 (MiB), got 0"},
		{name: "shutdown-timeout", mutate: func(c *Config) { c.ShutdownTimeout = 0 }, key: "shutdown-timeout", want: "greater than 0"},
		{name: "log level", mutate: func(c *Config) { c.Log.Level = "loud" }, key: "log.level", want: `"debug"`},
		{name: "log format", mutate: func(c *Config) { c.Log.Format = "xml" }, key: "log.format", want: `"json"`},
		{name: "no listeners", mutate: func(c *Config) { c.HTTP, c.UDP = nil, nil }, key: "", want: "no listeners"},

		// Listener names and addresses.
		{name: "empty listener name", mutate: func(c *Config) { h(c).Name = "" }, key: "http[0].name", want: "must not be empty"},
		{name: "name with slash", mutate: func(c *Config) { u(c).Name = "a/b" }, key: "udp[0].name", want: "must not contain '/'"},
		{name: "name ..", mutate: func(c *Config) { h(c).Name = ".." }, key: "http[0].name", want: "not a usable name"},
		{name: "name shared by http and udp", mutate: func(c *Config) { u(c).Name = "h" }, key: "udp[0].name", want: `"h" is also used by http[0]`},
		{name: "missing bind-addr", mutate: func(c *Config) { h(c).BindAddr = "" }, key: "http[0].bind-addr", want: "required"},
		{name: "bind-addr without port", mutate: func(c *Config) { h(c).BindAddr = "localhost" }, key: "http[0].bind-addr", want: "missing port"},
		{name: "bind-addr port range", mutate: func(c *Config) { u(c).BindAddr = "127.0.0.1:70000" }, key: "udp[0].bind-addr", want: "0..65535"},
		{name: "bind-addr named port", mutate: func(c *Config) { h(c).BindAddr = ":http" }, key: "http[0].bind-addr", want: "not a number"},
		{name: "http listeners on one address", mutate: func(c *Config) {
			c.HTTP = append(c.HTTP, c.HTTP[0])
			c.HTTP[1].Name = "h2"
		}, key: "http[1].bind-addr", want: `"127.0.0.1:9096" clashes with http[0].bind-addr "127.0.0.1:9096"`},
		{name: "wildcard overlaps a host", mutate: func(c *Config) {
			c.HTTP = append(c.HTTP, c.HTTP[0])
			c.HTTP[1].Name, c.HTTP[1].BindAddr = "h2", ":9096"
		}, key: "http[1].bind-addr", want: "clashes with http[0]"},
		{name: "udp listeners on one address", mutate: func(c *Config) {
			c.UDP = append(c.UDP, c.UDP[0])
			c.UDP[1].Name, c.UDP[1].BindAddr = "u2", "0.0.0.0:8089"
		}, key: "udp[1].bind-addr", want: "two udp listeners cannot share an address"},
		{name: "http and udp may share an address", mutate: func(c *Config) { u(c).BindAddr = h(c).BindAddr }, ok: true},
		{name: "ephemeral ports never clash", mutate: func(c *Config) {
			c.HTTP = append(c.HTTP, c.HTTP[0])
			c.HTTP[0].BindAddr, c.HTTP[1].Name, c.HTTP[1].BindAddr = "127.0.0.1:0", "h2", "127.0.0.1:0"
		}, ok: true},

		// TLS serving.
		{name: "pem and cert", mutate: func(c *Config) { h(c).SSLCombinedPEM, h(c).TLSCert, h(c).TLSKey = pem, pem, pem },
			key: "http[0].ssl-combined-pem", want: "not both"},
		{name: "cert without key", mutate: func(c *Config) { h(c).TLSCert = pem }, key: "http[0].tls-key", want: "required with tls-cert"},
		{name: "key without cert", mutate: func(c *Config) { h(c).TLSKey = pem }, key: "http[0].tls-cert", want: "required with tls-key"},
		{name: "cert and key readable", mutate: func(c *Config) { h(c).TLSCert, h(c).TLSKey = pem, pem }, ok: true},
		{name: "pem missing", mutate: func(c *Config) { h(c).SSLCombinedPEM = missing }, key: "http[0].ssl-combined-pem", want: "cannot read"},
		{name: "pem is a directory", mutate: func(c *Config) { h(c).SSLCombinedPEM = dir }, key: "http[0].ssl-combined-pem", want: "is a directory"},
		{name: "ping status", mutate: func(c *Config) { h(c).DefaultPingResponse = 404 }, key: "http[0].default-ping-response", want: "2xx"},
		{name: "connection limit", mutate: func(c *Config) { h(c).MaxConnectionLimit = -1 }, key: "http[0].max-connection-limit", want: "0 (no limit) or more"},

		// Auth.
		{name: "auth mode", mutate: func(c *Config) { h(c).Auth.Mode = "open" }, key: "http[0].auth.mode", want: `"gateway"`},
		{name: "gateway without credentials", mutate: func(c *Config) { h(c).Auth.Mode = "gateway" }, key: "http[0].auth", want: "at least one entry in tokens or users"},
		{name: "gateway with a token", mutate: func(c *Config) { h(c).Auth = AuthConfig{Mode: "gateway", Tokens: []string{"t"}} }, ok: true},
		{name: "tokens in pass-through", mutate: func(c *Config) { h(c).Auth.Tokens = []string{"t"} }, key: "http[0].auth.mode", want: "only checked with mode"},
		{name: "empty token", mutate: func(c *Config) { h(c).Auth = AuthConfig{Mode: "gateway", Tokens: []string{""}} }, key: "http[0].auth.tokens[0]", want: "must not be empty"},
		{name: "duplicate token", mutate: func(c *Config) { h(c).Auth = AuthConfig{Mode: "gateway", Tokens: []string{"t", "t"}} }, key: "http[0].auth.tokens[1]", want: "duplicate"},
		{name: "user without name", mutate: func(c *Config) {
			h(c).Auth = AuthConfig{Mode: "gateway", Users: []UserAuth{{Password: "p"}}}
		}, key: "http[0].auth.users[0].username", want: "must not be empty"},
		{name: "user without password", mutate: func(c *Config) {
			h(c).Auth = AuthConfig{Mode: "gateway", Users: []UserAuth{{Username: "u"}}}
		}, key: "http[0].auth.users[0].password", want: "must not be empty"},
		{name: "duplicate user", mutate: func(c *Config) {
			h(c).Auth = AuthConfig{Mode: "gateway", Users: []UserAuth{{Username: "u", Password: "p"}, {Username: "u", Password: "q"}}}
		}, key: "http[0].auth.users[1].username", want: `duplicate user "u"`},

		// HTTP outputs.
		{name: "no outputs", mutate: func(c *Config) { h(c).Outputs = nil }, key: "http[0].output", want: "at least one output"},
		{name: "empty output name", mutate: func(c *Config) { ho(c).Name = "" }, key: "http[0].output[0].name", want: "must not be empty"},
		{name: "duplicate output name", mutate: func(c *Config) { c.HTTP[0].Outputs[1].Name = "a" }, key: "http[0].output[1].name", want: `"a" is also used by output[0]`},
		{name: "same output name in two listeners", mutate: func(c *Config) { uo(c).Name = ho(c).Name }, ok: true},
		{name: "missing location", mutate: func(c *Config) { ho(c).Location = "" }, key: "http[0].output[0].location", want: "required"},
		{name: "location scheme", mutate: func(c *Config) { ho(c).Location = "ftp://h/write" }, key: "http[0].output[0].location", want: "http:// or https://"},
		{name: "location host:port", mutate: func(c *Config) { ho(c).Location = "127.0.0.1:8086" }, key: "http[0].output[0].location", want: "http:// or https://"},
		{name: "location without host", mutate: func(c *Config) { ho(c).Location = "http:///write" }, key: "http[0].output[0].location", want: "with a host"},
		{name: "location query", mutate: func(c *Config) { ho(c).Location = "http://h:1/write?u=a&p=b" }, key: "http[0].output[0].location", want: "query"},
		{name: "location port", mutate: func(c *Config) { ho(c).Location = "http://h:99999/write" }, key: "http[0].output[0].location", want: "1..65535"},
		{name: "location bad URL", mutate: func(c *Config) { ho(c).Location = "http://h:1/%zz" }, key: "http[0].output[0].location", want: "invalid URL escape"},
		{name: "timeout", mutate: func(c *Config) { ho(c).Timeout = 0 }, key: "http[0].output[0].timeout", want: "greater than 0"},
		{name: "max-delay-interval", mutate: func(c *Config) { ho(c).MaxDelayInterval = -1 }, key: "http[0].output[0].max-delay-interval", want: "greater than 0"},
		{name: "buffer-size-mb", mutate: func(c *Config) { ho(c).BufferSizeMB = -1 }, key: "http[0].output[0].buffer-size-mb", want: ">= 0"},
		{name: "max-batch-kb", mutate: func(c *Config) { ho(c).MaxBatchKB = -5 }, key: "http[0].output[0].max-batch-kb", want: ">= 0"},
		{name: "overflow", mutate: func(c *Config) { ho(c).Overflow = "block" }, key: "http[0].output[0].overflow", want: `"drop-oldest", "reject"`},
		{name: "mtu on HTTP output", mutate: func(c *Config) { ho(c).MTU = 1400 }, key: "http[0].output[0].mtu", want: "only to UDP outputs"},
		{name: "ca-file missing", mutate: func(c *Config) { c.HTTP[0].Outputs[1].CAFile = missing }, key: "http[0].output[1].ca-file", want: "cannot read"},
		{name: "ca-file on http", mutate: func(c *Config) { ho(c).CAFile = pem }, key: "http[0].output[0].ca-file", want: "plain http"},
		{name: "ca-file on https", mutate: func(c *Config) { c.HTTP[0].Outputs[1].CAFile = pem }, ok: true},
		{name: "username without password", mutate: func(c *Config) { ho(c).Username = "u" }, key: "http[0].output[0].password", want: "required with username"},
		{name: "password without username", mutate: func(c *Config) { ho(c).Password = "p" }, key: "http[0].output[0].username", want: "required with password"},
		{name: "token and username", mutate: func(c *Config) { ho(c).Token, ho(c).Username, ho(c).Password = "t", "u", "p" },
			key: "http[0].output[0].token", want: "not both"},

		// UDP listeners and outputs.
		{name: "read-buffer", mutate: func(c *Config) { u(c).ReadBuffer = -1 }, key: "udp[0].read-buffer", want: ">= 0"},
		{name: "precision", mutate: func(c *Config) { u(c).Precision = "ns" }, key: "udp[0].precision", want: `"ms"`},
		{name: "retention-policy without database", mutate: func(c *Config) { u(c).RetentionPolicy = "rp" }, key: "udp[0].retention-policy", want: "needs database"},
		{name: "udp without outputs", mutate: func(c *Config) { u(c).Outputs = nil }, key: "udp[0].output", want: "at least one output"},
		{name: "http output without database", mutate: func(c *Config) {
			uo(c).MTU, uo(c).Location = 0, "http://127.0.0.1:8086/write"
			c.ApplyDefaults()
		}, key: "udp[0].output[0].location", want: "needs database"},
		{name: "http output with database", mutate: func(c *Config) {
			u(c).Database, u(c).RetentionPolicy = "telegraf", "autogen"
			uo(c).MTU, uo(c).Location = 0, "http://127.0.0.1:8086/write"
			c.ApplyDefaults()
		}, ok: true},
		{name: "udp location", mutate: func(c *Config) { uo(c).Location = "127.0.0.1" }, key: "udp[0].output[0].location", want: "want host:port"},
		{name: "udp location without host", mutate: func(c *Config) { uo(c).Location = ":8089" }, key: "udp[0].output[0].location", want: "missing host"},
		{name: "udp location port 0", mutate: func(c *Config) { uo(c).Location = "h:0" }, key: "udp[0].output[0].location", want: "port 0"},
		{name: "mtu 0", mutate: func(c *Config) { uo(c).MTU = 0 }, key: "udp[0].output[0].mtu", want: "1..65507"},
		{name: "mtu too big", mutate: func(c *Config) { uo(c).MTU = 65508 }, key: "udp[0].output[0].mtu", want: "got 65508"},
		{name: "http key on udp output", mutate: func(c *Config) { uo(c).Timeout = time.Second }, key: "udp[0].output[0].timeout", want: "only to HTTP outputs"},
		{name: "token on udp output", mutate: func(c *Config) { uo(c).Token = "t" }, key: "udp[0].output[0].token", want: "only to HTTP outputs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			err := c.Validate()
			probs := FieldErrors(err)
			if tc.ok {
				if err != nil {
					t.Fatalf("want no problem, got: %v", err)
				}
				return
			}
			if len(probs) != 1 {
				t.Errorf("want exactly one problem, got %d: %v", len(probs), err)
			}
			wantMsg(t, problemFor(t, probs, tc.key), tc.want)
		})
	}
}

func TestValidateCollectsEveryProblem(t *testing.T) {
	c := validConfig()
	c.Sync = "x"
	c.HTTP[0].Outputs[0].Timeout = 0
	c.HTTP[0].Outputs[1].Overflow = "y"
	c.UDP[0].Outputs[0].MTU = -1
	probs := FieldErrors(c.Validate())
	keys := []string{"sync", "http[0].output[0].timeout", "http[0].output[1].overflow", "udp[0].output[0].mtu"}
	if len(probs) != len(keys) {
		t.Fatalf("got %d problems, want %d: %v", len(probs), len(keys), probs)
	}
	for _, k := range keys {
		problemFor(t, probs, k)
	}
}
