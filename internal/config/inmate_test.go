package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const inmateConfig = `addresses:
  - url: http://influxdb1:8086
    token: tok1
  - url: http://influxdb2:8086/
  - url: https://influxdb1:8086/prefix
    token: tok3
bind_address: 127.0.0.1
port: 8080
retry_count: 120
retry_delay: 2
query_timeout: 5
channel_size: 1000
auth_token: 123456
`

func TestInmateMapping(t *testing.T) {
	t.Setenv(EnvAuthToken, "")
	cfg := mustLoad(t, "config.yaml", inmateConfig)
	if cfg.Source.Format != FormatInmate || len(cfg.HTTP) != 1 || len(cfg.UDP) != 0 {
		t.Fatalf("want one HTTP listener in inmate format, got %q, %d http, %d udp",
			cfg.Source.Format, len(cfg.HTTP), len(cfg.UDP))
	}
	h := cfg.HTTP[0]
	if h.BindAddr != "127.0.0.1:8080" {
		t.Errorf("bind-addr = %q, want 127.0.0.1:8080", h.BindAddr)
	}
	if h.Auth.Mode != "gateway" || !slices.Equal(h.Auth.Tokens, []string{"123456"}) {
		t.Errorf("auth = %+v, want gateway with token 123456 (a YAML integer read as text)", h.Auth)
	}
	want := []struct{ name, location, token string }{
		{"influxdb1:8086", "http://influxdb1:8086/api/v2/write", "tok1"}, // a token means 2.x
		{"influxdb2:8086", "http://influxdb2:8086/write", ""},            // no token: 1.x, client credentials
		{"influxdb1:8086-2", "https://influxdb1:8086/prefix/api/v2/write", "tok3"},
	}
	if len(h.Outputs) != len(want) {
		t.Fatalf("got %d outputs, want %d", len(h.Outputs), len(want))
	}
	for i, w := range want {
		o := h.Outputs[i]
		if o.Name != w.name || o.Location.Reveal() != w.location || o.Token != w.token {
			t.Errorf("output %d = %q %q %q, want %q %q %q", i, o.Name, o.Location, o.Token, w.name, w.location, w.token)
		}
		if o.Timeout != 5*time.Second || o.MaxDelayInterval != 2*time.Second {
			t.Errorf("output %d: timeout %v (query_timeout), max-delay-interval %v (retry_delay)", i, o.Timeout, o.MaxDelayInterval)
		}
	}
	w := strings.Join(cfg.Warnings(), "\n")
	for _, k := range []string{"retry_count: accepted, not used: ", "channel_size: accepted, not used: "} {
		if !strings.Contains(w, k) {
			t.Errorf("warnings lack %q:\n%s", k, w)
		}
	}
}

func TestInmateDefaultsWhenOptionalKeysAreAbsent(t *testing.T) {
	t.Setenv(EnvAuthToken, "")
	cfg := mustLoad(t, "config.yaml", "addresses:\n  - url: http://a:8086\nport: 8080\nquery_timeout: 0\n")
	h := cfg.HTTP[0]
	if h.BindAddr != ":8080" {
		t.Errorf("bind-addr = %q, want :8080 (all interfaces, as Inmate)", h.BindAddr)
	}
	if h.Auth.Mode != "pass-through" {
		t.Errorf("auth mode = %q, want pass-through without auth_token", h.Auth.Mode)
	}
	o := h.Outputs[0]
	if o.Timeout != DefaultOutputTimeout || o.MaxDelayInterval != DefaultMaxDelayInterval {
		t.Errorf("timeout %v, max-delay-interval %v: want the defaults", o.Timeout, o.MaxDelayInterval)
	}
	if len(cfg.Warnings()) != 0 {
		t.Errorf("unexpected warnings: %q", cfg.Warnings())
	}
}

func TestInmateAuthTokenEnvironment(t *testing.T) {
	tests := []struct {
		name, file, env string
		want            []string
	}{
		{"env overrides auth_token", "auth_token: from-file\n", "from-env", []string{"from-env"}},
		{"env alone enables gateway auth", "", "from-env", []string{"from-env"}},
		{"empty env keeps auth_token", "auth_token: from-file\n", "", []string{"from-file"}},
		{"neither", "", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvAuthToken, tc.env)
			cfg := mustLoad(t, "config.yaml", "addresses:\n  - url: http://a:8086\nport: 8080\n"+tc.file)
			a := cfg.HTTP[0].Auth
			if !slices.Equal(a.Tokens, tc.want) {
				t.Errorf("tokens = %q, want %q", a.Tokens, tc.want)
			}
			if wantMode := map[bool]string{true: "gateway", false: "pass-through"}[tc.want != nil]; a.Mode != wantMode {
				t.Errorf("mode = %q, want %q", a.Mode, wantMode)
			}
		})
	}
}

func TestInmateOlderURLsList(t *testing.T) {
	cfg := mustLoad(t, "config.yaml", "urls:\n  - http://a:8086\n  - http://b:8086\nport: 8080\n")
	if n := len(cfg.HTTP[0].Outputs); n != 2 || cfg.HTTP[0].Outputs[1].Location != "http://b:8086/write" {
		t.Errorf("outputs = %+v", cfg.HTTP[0].Outputs)
	}
}

func TestInmateProblems(t *testing.T) {
	tests := []struct {
		name, data string
		key        string
		line       int
		want       string
	}{
		{"missing port", "addresses:\n  - url: http://a:8086\n", "port", 0, "required"},
		{"port range", "addresses:\n  - url: http://a:8086\nport: 70000\n", "port", 3, "1..65535, got 70000"},
		{"port as text", "addresses:\n  - url: http://a:8086\nport: eighty\n", "port", 3, "want an integer, got YAML !!str"},
		{"no addresses", "port: 8080\n", "addresses", 0, "at least one InfluxDB address"},
		{"bad url", "addresses:\n  - url: http://a:8086\n  - url: influxdb2:8086\nport: 8080\n", "addresses[1].url", 3, "http:// or https://"},
		{"both lists", "addresses:\n  - url: http://a:8086\nurls: [http://b:8086]\nport: 8080\n", "urls", 3, "not both"},
		{"seconds with a unit", "addresses:\n  - url: http://a:8086\nport: 8080\nretry_delay: 1s\n", "retry_delay", 4, `whole number of seconds >= 0 (Inmate's unit), got "1s"`},
		{"negative seconds", "addresses:\n  - url: http://a:8086\nport: 8080\nquery_timeout: -3\n", "query_timeout", 4, `got "-3"`},
		{"bad bind_address", "addresses:\n  - url: http://a:8086\nbind_address: a b\nport: 8080\n", "bind_address", 3, "invalid host"},
		{"duplicate key", "port: 1\nport: 2\naddresses:\n  - url: http://a:8086\n", "port", 2, "already defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvAuthToken, "")
			p := problemFor(t, loadProblems(t, "config.yaml", tc.data), tc.key)
			if p.Line != tc.line {
				t.Errorf("line = %d, want %d (%s)", p.Line, tc.line, p)
			}
			wantMsg(t, p, tc.want)
		})
	}
}

func TestInmateCollectsEveryProblem(t *testing.T) {
	data := "addresses:\n  - url: ftp://a\n    tokn: x\nport: 0\nretry_delay: soon\nextra: 1\n"
	probs := loadProblems(t, "config.yaml", data)
	for _, k := range []string{"addresses[0].tokn", "addresses[0].url", "port", "retry_delay", "extra"} {
		problemFor(t, probs, k)
	}
	if len(probs) != 5 {
		t.Errorf("got %d problems, want 5: %v", len(probs), probs)
	}
}

func TestInmateSyntaxError(t *testing.T) {
	probs := loadProblems(t, "config.yaml", "port: 8080\naddresses: [\n")
	if len(probs) != 1 || probs[0].Msg == "" {
		t.Fatalf("want one syntax problem, got %v", probs)
	}
}
