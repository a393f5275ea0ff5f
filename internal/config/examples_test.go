package config

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// exampleChecks holds what each sample config must map to. Every file in
// examples/ is loaded whether or not it has an entry here.
var exampleChecks = map[string]func(t *testing.T, c *Config){
	"influxdb-relay.toml": func(t *testing.T, c *Config) {
		wantFormat(t, c, FormatRelay)
		if len(c.HTTP) != 1 || len(c.UDP) != 1 {
			t.Fatalf("want 1 http and 1 udp listener, got %d and %d", len(c.HTTP), len(c.UDP))
		}
		h, u := c.HTTP[0], c.UDP[0]
		if h.Name != "example-http" || h.BindAddr != "127.0.0.1:9096" || len(h.Outputs) != 2 {
			t.Errorf("http listener = %+v", h)
		}
		if o := h.Outputs[1]; o.Name != "local2" || o.Location != "http://127.0.0.1:7086/write" ||
			o.Username != "test" || o.Password != "secretpassword" || o.Timeout != DefaultOutputTimeout {
			t.Errorf("http output local2 = %+v", o)
		}
		if u.Name != "example-udp" || u.BindAddr != "127.0.0.1:9096" || u.ReadBuffer != 0 || len(u.Outputs) != 2 ||
			u.Outputs[0].MTU != 512 || u.Outputs[1].MTU != 1024 || u.Outputs[1].Location != "127.0.0.1:7089" {
			t.Errorf("udp listener = %+v", u)
		}
	},
	"influxgate.toml": func(t *testing.T, c *Config) {
		wantFormat(t, c, FormatNative)
		if c.DataDir != "/var/lib/influxgate" || c.Sync != "always" || c.Consistency != "any" ||
			c.MaxBodySize != 25000000 || c.WriteMemoryBudgetMB != 128 || c.Log.Format != "text" {
			t.Errorf("top level = %+v", c)
		}
		h := c.HTTP[0]
		if h.Auth.Mode != "gateway" || len(h.Auth.Tokens) != 1 || len(h.Auth.Users) != 3 || h.DefaultRetentionPolicy != "autogen" {
			t.Errorf("http listener = %+v", h)
		}
		if h.Auth.TokenRights != RightWrite || h.Auth.Users[1].Rights != RightRead || h.Auth.Users[2].Rights != RightAdmin {
			t.Errorf("rights = %+v", h.Auth)
		}
		a, b := h.Outputs[0], h.Outputs[1]
		if a.BufferSizeMB != 1024 || a.Overflow != "drop-oldest" || a.Username != "relay" {
			t.Errorf("output influx-a = %+v", a)
		}
		if b.Token == "" || b.Org != "example-org" || b.Timeout != 5*time.Second {
			t.Errorf("output influx-b = %+v", b)
		}
		if len(c.UDP) != 2 || c.UDP[1].Database != "telegraf" || c.UDP[1].Outputs[0].Timeout != 10*time.Second {
			t.Errorf("udp listeners = %+v", c.UDP)
		}
	},
	"inmate.yaml": func(t *testing.T, c *Config) {
		wantFormat(t, c, FormatInmate)
		h := c.HTTP[0]
		if h.BindAddr != "0.0.0.0:8080" || !slices.Equal(h.Auth.Tokens, []string{"123456"}) || len(h.Outputs) != 2 {
			t.Errorf("listener = %+v", h)
		}
		if o := h.Outputs[0]; o.Location != "http://influxdb1:8086/api/v2/write" || o.Timeout != 5*time.Second ||
			o.MaxDelayInterval != time.Second {
			t.Errorf("output = %+v", o)
		}
	},
	"minimal.toml": func(t *testing.T, c *Config) {
		// Only influxdb-relay keys, so it is recorded as relay format.
		wantFormat(t, c, FormatRelay)
		if len(c.HTTP) != 1 || len(c.HTTP[0].Outputs) != 2 || c.DataDir != DefaultDataDir {
			t.Errorf("config = %+v", c)
		}
	},
}

func wantFormat(t *testing.T, c *Config, f Format) {
	t.Helper()
	if c.Source.Format != f {
		t.Errorf("format = %q, want %q", c.Source.Format, f)
	}
}

func exampleFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example files found (%v)", err)
	}
	return files
}

func TestExamplesLoad(t *testing.T) {
	t.Setenv(EnvAuthToken, "")
	seen := map[string]bool{}
	for _, path := range exampleFiles(t) {
		name := filepath.Base(path)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			c, err := Load(path)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if c.Source.Path != path || c.Source.Format == "" {
				t.Errorf("source = %+v", c.Source)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("a loaded config must validate again: %v", err)
			}
			if check := exampleChecks[name]; check != nil {
				check(t, c)
			}
		})
	}
	for name := range exampleChecks {
		if !seen[name] {
			t.Errorf("examples/%s has checks but no file", name)
		}
	}
}

// The sample influxdb-relay config must stay a valid native config when a
// native key is added: the relay format is a subset, not a separate dialect.
func TestRelayExampleIsValidNative(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "influxdb-relay.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, "native.toml", "data-dir = \"/tmp/x\"\n"+string(data))
	wantFormat(t, c, FormatNative)
	if len(c.HTTP[0].Outputs) != 2 || len(c.UDP[0].Outputs) != 2 {
		t.Errorf("outputs lost: %+v", c)
	}
}
