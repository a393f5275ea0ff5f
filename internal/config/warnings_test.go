package config

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWarningsForFeaturesNotYetActive(t *testing.T) {
	tests := []struct {
		feature string
		mutate  func(c *Config)
		key     string
	}{
		{"auth", func(c *Config) { c.HTTP[0].Auth = AuthConfig{Mode: "gateway", Tokens: []string{"t"}} }, `http[0].auth.mode = "gateway"`},
		{"backend-auth", func(c *Config) { c.HTTP[0].Outputs[1].Token = "t" }, "http[0].output[1].token"},
		{"tls-backend", func(c *Config) { c.HTTP[0].Outputs[1].CAFile = "ca.pem" }, "http[0].output[1].ca-file"},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			// Every feature is active in this build; list one as not yet
			// active to see the table drive the warning.
			saved := maps.Clone(NotYetActive)
			t.Cleanup(func() { NotYetActive = saved })
			NotYetActive = maps.Clone(saved)
			NotYetActive[tc.feature] = "not active yet (test)"
			want := tc.key + ": " + NotYetActive[tc.feature]
			if !containsLine(c.Warnings(), want) {
				t.Errorf("warnings %q lack %q", c.Warnings(), want)
			}

			// Once the entry is deleted, the warning goes away.
			delete(NotYetActive, tc.feature)
			for _, w := range c.Warnings() {
				if strings.HasPrefix(w, tc.key+": ") {
					t.Errorf("warning %q remains after deleting %q from NotYetActive", w, tc.feature)
				}
			}
		})
	}
}

func TestNoWarningsForFeaturesActiveThisRound(t *testing.T) {
	pem := filepath.Join(t.TempDir(), "c.pem")
	if err := os.WriteFile(pem, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	data := `[[http]]
bind-addr = "127.0.0.1:9096"
ssl-combined-pem = "` + pem + `"
[[http.output]]
location = "https://h:1/write"
buffer-size-mb = 100
overflow = "reject"
skip-tls-verification = true
max-batch-kb = 100
[[http]]
bind-addr = "127.0.0.1:9097"
tls-cert = "` + pem + `"
tls-key = "` + pem + `"
output = [{ location = "http://h:2/api/v2/write", org = "o" }]
[[udp]]
bind-addr = "127.0.0.1:8089"
read-buffer = 1048576
precision = "s"
database = "db"
output = [{ location = "127.0.0.1:8090", mtu = 512 }, { location = "http://h:3/write" }]
`
	if w := mustLoad(t, "a.toml", data).Warnings(); len(w) != 0 {
		t.Errorf("want no warnings, got %q", w)
	}
}

func TestWarningForUnusualLocationPath(t *testing.T) {
	c := validConfig()
	c.HTTP[0].Outputs[0].Location = "http://h:1/query"
	if !containsLine(c.Warnings(), `http[0].output[0].location: path "/query" is neither /write nor /api/v2/write`) {
		t.Errorf("warnings = %q", c.Warnings())
	}
	c.HTTP[0].Outputs[0].Location = "http://h:1/influx/write"
	for _, w := range c.Warnings() {
		if strings.Contains(w, "location") {
			t.Errorf("a /write path behind a prefix must not warn: %q", w)
		}
	}
}

func containsLine(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}
