package testinflux

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

func renderMap(t *testing.T, c instanceConfig) map[string]any {
	t.Helper()
	b, err := c.render()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := toml.Unmarshal(b, &m); err != nil {
		t.Fatalf("generated config does not parse: %v\n%s", err, b)
	}
	return m
}

func table(t *testing.T, m map[string]any, name string) map[string]any {
	t.Helper()
	tb, ok := m[name].(map[string]any)
	if !ok {
		t.Fatalf("[%s] missing: %v", name, m)
	}
	return tb
}

func testConfig(v Version) instanceConfig {
	return instanceConfig{
		version: v, rpcAddr: "127.0.0.1:1", httpAddr: "127.0.0.1:2", udpAddr: "127.0.0.1:3",
		varDir: "/x/var", socket: "/x/influxd.sock",
	}
}

func TestConfigPerVersion(t *testing.T) {
	t.Parallel()
	m := renderMap(t, testConfig(V167))
	if m["reporting-enabled"] != false || m["reporting-disabled"] != nil {
		t.Errorf("1.6.7 reporting keys: enabled=%v disabled=%v", m["reporting-enabled"], m["reporting-disabled"])
	}
	if _, ok := table(t, m, "http")["flux-enabled"]; ok {
		t.Error("1.6.7 config has flux-enabled")
	}

	c := testConfig(V1810)
	c.flux, c.auth = true, true
	m = renderMap(t, c)
	if m["reporting-disabled"] != true || m["reporting-enabled"] != nil {
		t.Errorf("1.8.10 reporting keys: enabled=%v disabled=%v", m["reporting-enabled"], m["reporting-disabled"])
	}
	h := table(t, m, "http")
	if h["flux-enabled"] != true || h["auth-enabled"] != true || h["log-enabled"] != false || h["bind-address"] != "127.0.0.1:2" {
		t.Errorf("[http] = %v", h)
	}
	if m["bind-address"] != "127.0.0.1:1" || table(t, m, "data")["wal-dir"] != "/x/var/wal" ||
		table(t, m, "meta")["dir"] != "/x/var/meta" || table(t, m, "monitor")["store-enabled"] != false {
		t.Errorf("config = %v", m)
	}
	if _, ok := m["udp"]; ok {
		t.Error("[[udp]] without UDP options")
	}
}

func TestConfigUDP(t *testing.T) {
	t.Parallel()
	c := testConfig(V167)
	c.udp = &UDPOptions{Precision: "s"}
	udp, ok := renderMap(t, c)["udp"].([]any)
	if !ok || len(udp) != 1 {
		t.Fatalf("[[udp]] = %v", udp)
	}
	want := map[string]any{"enabled": true, "bind-address": "127.0.0.1:3", "database": "udp", "precision": "s", "batch-timeout": "10ms"}
	got := udp[0].(map[string]any)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("[[udp]] %s = %v, want %v", k, got[k], v)
		}
	}
	c.udp = &UDPOptions{Database: "u", BatchTimeout: 2 * time.Second}
	got = renderMap(t, c)["udp"].([]any)[0].(map[string]any)
	if got["database"] != "u" || got["batch-timeout"] != "2s" {
		t.Errorf("[[udp]] = %v", got)
	}
}

func TestConfigExtraMerges(t *testing.T) {
	t.Parallel()
	c := testConfig(V1810)
	c.udp = &UDPOptions{}
	c.extra = `
reporting-disabled = false
[http]
max-body-size = 1000
log-enabled = true
[coordinator]
max-select-point = 10
[[udp]]
enabled = true
bind-address = "127.0.0.1:4"
[[graphite]]
enabled = true
templates = ["a", "b"]
`
	m := renderMap(t, c)
	h := table(t, m, "http")
	if h["max-body-size"] != int64(1000) || h["log-enabled"] != true || h["bind-address"] != "127.0.0.1:2" {
		t.Errorf("[http] = %v", h)
	}
	if table(t, m, "coordinator")["max-select-point"] != int64(10) {
		t.Errorf("[coordinator] = %v", m["coordinator"])
	}
	if m["reporting-disabled"] != false {
		t.Errorf("reporting-disabled = %v", m["reporting-disabled"])
	}
	udp := m["udp"].([]any)
	if len(udp) != 2 || udp[0].(map[string]any)["bind-address"] != "127.0.0.1:3" || udp[1].(map[string]any)["bind-address"] != "127.0.0.1:4" {
		t.Errorf("[[udp]] = %v, want the generated listener then the extra one", udp)
	}
	if g := m["graphite"].([]any); len(g) != 1 || !slices.Equal(g[0].(map[string]any)["templates"].([]any), []any{"a", "b"}) {
		t.Errorf("[[graphite]] = %v", g)
	}
}

func TestConfigExtraRejected(t *testing.T) {
	t.Parallel()
	tests := []struct{ extra, want string }{
		{`bind-address = ":1"`, "bind-address is set by testinflux"},
		{"[data]\nwal-dir = \"/tmp\"", "data.wal-dir is set by testinflux"},
		{"[logging]\nlevel = \"warn\"", "logging.level is set by testinflux"},
		{"[http]\nauth-enabled = true", "http.auth-enabled is set by testinflux"},
		{`http = 1`, "http is a table"},
		{"[[meta]]\ndir = \"x\"", "meta is a table"},
		{"[udp]\nenabled = true", "udp is not a table"},
		{"[http", "parse ExtraConfig"},
	}
	for _, tt := range tests {
		c := testConfig(V167)
		c.udp = &UDPOptions{}
		c.extra = tt.extra
		_, err := c.render()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ExtraConfig %q: error %v, want %q", tt.extra, err, tt.want)
		}
	}
}

func TestChildEnvDropsInfluxdbOverrides(t *testing.T) {
	t.Parallel()
	got := childEnv([]string{"PATH=/bin", "INFLUXDB_HTTP_BIND_ADDRESS=:1", "HOME=/root", "INFLUXDB_DATA_DIR=/x"})
	if want := []string{"PATH=/bin", "HOME=/root"}; !slices.Equal(got, want) {
		t.Errorf("childEnv = %q, want %q", got, want)
	}
}
