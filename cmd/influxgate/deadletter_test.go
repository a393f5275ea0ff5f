package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The dead-letter command finds outputs of [[udp]] sections too: their
// http(s) outputs have a log and dead-letter stores of their own.
func TestDeadLetterCommandFindsUDPOutputs(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "influxgate.toml")
	text := fmt.Sprintf(`data-dir = %q

[[http]]
name = "web"
bind-addr = "127.0.0.1:0"
output = [ { name = "a", location = "http://127.0.0.1:1/write" } ]

[[udp]]
name = "metrics"
bind-addr = "127.0.0.1:0"
database = "telegraf"
output = [
  { name = "b", location = "http://127.0.0.1:2/write" },
  { name = "relay", location = "127.0.0.1:8089" },
]
`, filepath.Join(dir, "data"))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-output", "b", "list"}, 0, "b: 0 records in the dead-letter store"},
		{[]string{"-output", "b", "-listener", "metrics", "purge"}, 0, "0 records deleted"},
		{[]string{"-output", "a", "list"}, 0, "a: 0 records"},
		{[]string{"-output", "relay", "list"}, 1, `no output "relay" with a log`},
		{[]string{"-output", "b", "-listener", "web", "list"}, 1, `no output "b"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"dead-letter", "-config", cfg}, c.args...), &stdout, &stderr)
		if code != c.code || !strings.Contains(stdout.String()+stderr.String(), c.out) {
			t.Errorf("dead-letter %v: exit %d, %q %q; want exit %d and %q", c.args, code, stdout.String(), stderr.String(), c.code, c.out)
		}
	}
}
