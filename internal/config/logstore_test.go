package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const logStoreListener = `
[[http]]
bind-addr = "127.0.0.1:9096"
output = [{ name = "a", location = "http://127.0.0.1:8086/write" }]
`

func TestLogStoreDefaultsToLocal(t *testing.T) {
	cfg := mustLoad(t, "c.toml", logStoreListener)
	want := LogStoreConfig{Engine: "local", StreamReplicas: 3, StreamPrefix: "influxgate", LeaseTTL: 3 * time.Second}
	if cfg.LogStore.Engine != want.Engine || cfg.LogStore.StreamReplicas != want.StreamReplicas ||
		cfg.LogStore.StreamPrefix != want.StreamPrefix || cfg.LogStore.LeaseTTL != want.LeaseTTL || cfg.LogStore.NATS() {
		t.Fatalf("defaults: got %+v, want %+v", cfg.LogStore, want)
	}
}

func TestLogStoreNATS(t *testing.T) {
	cfg := mustLoad(t, "c.toml", `
[log-store]
engine = "nats"
urls = ["nats://n1:4222", "nats://n2:4222", "tls://n3:4222"]
stream-replicas = 5
stream-prefix = "prod_eu"
username = "ig"
password = "secret"
lease-ttl = "2s"
`+logStoreListener)
	l := cfg.LogStore
	if !l.NATS() || len(l.URLs) != 3 || l.StreamReplicas != 5 || l.StreamPrefix != "prod_eu" ||
		l.Username != "ig" || l.Password != "secret" || l.LeaseTTL != 2*time.Second {
		t.Fatalf("got %+v", l)
	}
}

func TestLogStoreProblems(t *testing.T) {
	tests := []struct {
		name, table, key, want string
		line                   int
	}{
		{"engine", `engine = "kafka"`, "log-store.engine", `want one of "local", "nats"`, 3},
		{"no urls", `engine = "nats"`, "log-store.urls", "at least one NATS server", 0},
		{"bad scheme", "engine = \"nats\"\nurls = [\"http://n1:4222\"]", "log-store.urls[0]", "nats:// or tls://", 4},
		{"replicas", "engine = \"nats\"\nurls = [\"nats://n1\"]\nstream-replicas = 7", "log-store.stream-replicas", "1 to 5", 5},
		{"prefix", "engine = \"nats\"\nurls = [\"nats://n1\"]\nstream-prefix = \"a.b\"", "log-store.stream-prefix", "letters, digits", 5},
		{"urls without nats", `urls = ["nats://n1:4222"]`, "log-store.urls", `only with engine = "nats"`, 3},
		{"lease", "engine = \"nats\"\nurls = [\"nats://n1\"]\nlease-ttl = \"100ms\"", "log-store.lease-ttl", "at least 1s", 5},
		{"bad duration", "engine = \"nats\"\nurls = [\"nats://n1\"]\nlease-ttl = \"soon\"", "log-store.lease-ttl", "invalid duration", 5},
		{"half tls", "engine = \"nats\"\nurls = [\"nats://n1\"]\ntls-cert = \"c.pem\"", "log-store.tls-key", "go together", 0},
		{"user no pass", "engine = \"nats\"\nurls = [\"nats://n1\"]\nusername = \"u\"", "log-store.password", "go together", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := loadProblems(t, "c.toml", "\n[log-store]\n"+tt.table+"\n"+logStoreListener)
			p := problemFor(t, probs, tt.key)
			if !strings.Contains(p.Msg, tt.want) {
				t.Errorf("%s: got %q, want it to contain %q", tt.key, p.Msg, tt.want)
			}
			if tt.line != 0 && p.Line != tt.line {
				t.Errorf("%s: line %d, want %d", tt.key, p.Line, tt.line)
			}
		})
	}
}

func TestLogStoreUnknownKeyNamesTableAndLine(t *testing.T) {
	probs := loadProblems(t, "c.toml", "\n[log-store]\nengine = \"nats\"\nurls = [\"nats://n1\"]\nstream-replica = 3\n"+logStoreListener)
	p := problemFor(t, probs, "log-store.stream-replica")
	if p.Line != 5 || !strings.Contains(p.Msg, `[log-store]`) || !strings.Contains(p.Msg, `"stream-replicas"`) {
		t.Fatalf("got %v", p)
	}
}

func TestLogStoreWarnsAboutFewReplicas(t *testing.T) {
	for replicas, want := range map[int]string{1: "losing its disk", 2: "either is down", 3: ""} {
		cfg := mustLoad(t, "c.toml", fmt.Sprintf("[log-store]\nengine = \"nats\"\nurls = [\"nats://n1\"]\nstream-replicas = %d\n", replicas)+logStoreListener)
		got := strings.Join(cfg.Warnings(), "\n")
		if want == "" && strings.Contains(got, "stream-replicas") || want != "" && !strings.Contains(got, want) {
			t.Errorf("stream-replicas = %d: warnings %q, want %q", replicas, got, want)
		}
	}
}
