package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Help and version answer on stdout with exit 0; usage errors on stderr
// with exit 2. "influxgate -h" shows every command and the run flags;
// each command's -h shows its own flags.
func TestHelpVersionAndUsageErrors(t *testing.T) {
	everyCommand := []string{"influxgate [run] -config FILE", "influxgate check-config", "influxgate dead-letter",
		"influxgate verify", "influxgate resync", "influxgate drain", "influxgate version", "influxgate help"}
	runFlags := []string{"-config", "-data-dir", "-log-level", "-log-format", "-version"}
	wholeUsage := append(append([]string{}, everyCommand...), runFlags...)
	versionLine := fmt.Sprintf("influxgate %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)

	tests := []struct {
		args   string
		code   int
		stdout []string // fragments; nil: stdout must be empty
		stderr []string // fragments; nil: stderr must be empty
	}{
		{args: "-h", stdout: wholeUsage},
		{args: "--help", stdout: wholeUsage},
		{args: "-help", stdout: wholeUsage},
		{args: "help", stdout: wholeUsage},
		{args: "run -h", stdout: wholeUsage},
		{args: "-config influxgate.toml -h", stdout: wholeUsage},
		{args: "-version", stdout: []string{versionLine}},
		{args: "--version", stdout: []string{versionLine}},
		{args: "version", stdout: []string{versionLine}},
		{args: "version -h", stdout: []string{"usage:\n  influxgate version\n"}},
		{args: "check-config -h", stdout: []string{"influxgate check-config -config FILE", "flags of check-config:", "-config", "-data-dir"}},
		{args: "dead-letter -h", stdout: []string{"influxgate dead-letter -config FILE", "flags of dead-letter:", "-output", "-listener"}},
		{args: "verify --help", stdout: []string{"influxgate verify -config FILE", "flags of verify:", "-bucket", "-recheck"}},
		{args: "resync -h", stdout: []string{"influxgate resync -config FILE", "flags of resync:", "-from", "-to", "-rate"}},
		{args: "help verify", stdout: []string{"flags of verify:", "-bucket"}},
		{args: "drain -h", stdout: []string{"influxgate drain -config FILE", "flags of drain:", "-data-dir", "-timeout", "-progress"}},

		{args: "", code: 2, stderr: []string{"influxgate: -config FILE is required"}},
		{args: "-bogus", code: 2, stderr: append([]string{"influxgate: flag provided but not defined: -bogus"}, wholeUsage...)},
		{args: "nope", code: 2, stderr: append([]string{`influxgate: unknown command "nope"`}, everyCommand...)},
		{args: "help nope", code: 2, stderr: []string{`unknown command "nope"`}},
		{args: "-config influxgate.toml extra", code: 2, stderr: []string{`influxgate: unexpected argument "extra"`}},
		{args: "check-config", code: 2, stderr: []string{"influxgate check-config: -config FILE is required"}},
		{args: "check-config -version", code: 2, stderr: []string{"not defined: -version"}},
		{args: "version extra", code: 2, stderr: []string{`influxgate version: unexpected argument "extra"`}},
		{args: "verify -bogus", code: 2, stderr: []string{"influxgate verify: flag provided but not defined: -bogus", "flags of verify:"}},
		{args: "resync", code: 2, stderr: []string{"usage: influxgate resync"}},
		{args: "drain", code: 2, stderr: []string{"influxgate drain: -config FILE is required"}},
		{args: "drain -config x.toml extra", code: 2, stderr: []string{`influxgate drain: unexpected argument "extra"`}},
		{args: "drain -config x.toml -timeout 0s", code: 2, stderr: []string{"-timeout and -progress must be greater than 0"}},
	}
	for _, tc := range tests {
		t.Run(tc.args, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(strings.Fields(tc.args), &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout.String(), stderr.String())
			}
			check := func(stream, got string, want []string) {
				t.Helper()
				if want == nil && got != "" {
					t.Errorf("%s should be empty, got:\n%s", stream, got)
				}
				for _, w := range want {
					if !strings.Contains(got, w) {
						t.Errorf("%s lacks %q:\n%s", stream, w, got)
					}
				}
			}
			check("stdout", stdout.String(), tc.stdout)
			check("stderr", stderr.String(), tc.stderr)
		})
	}
}

// check-config refuses a gateway token that is only whitespace, naming
// the file, line and key (exit 1).
func TestCheckConfigRefusesBlankToken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "influxgate.toml")
	text := fmt.Sprintf(`data-dir = %q

[[http]]
name = "http"
bind-addr = "127.0.0.1:0"
output = [ { name = "a", location = "http://127.0.0.1:8086/write" } ]

[http.auth]
mode = "gateway"
tokens = ["   "]
`, filepath.Join(dir, "data"))
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	code := run([]string{"check-config", "-config", path}, &stdout, &stderr)
	want := path + ":10: http[0].auth.tokens[0]: must not be empty or only whitespace"
	if code != 1 || !strings.Contains(stderr.String(), want) {
		t.Errorf("check-config: exit %d, stderr:\n%s\nwant exit 1 and %q", code, stderr.String(), want)
	}
	if strings.Contains(stdout.String(), "configuration OK") {
		t.Errorf("check-config says OK:\n%s", stdout.String())
	}
}

// drain refuses a config whose log is in NATS JetStream (exit 1, saying
// why) without connecting anywhere: such a node has no log of its own, and
// opening the shared streams would join the running nodes' deliveries.
func TestDrainRefusesANATSLogStore(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "influxgate.toml")
	// Port 1 on loopback: nothing listens there, so a drain that tried
	// to connect would fail with another error, after its retries.
	text := fmt.Sprintf(`data-dir = %q

[log-store]
engine = "nats"
urls = ["nats://127.0.0.1:1"]

[[http]]
name = "http"
bind-addr = "127.0.0.1:0"
output = [ { name = "a", location = "http://127.0.0.1:8086/write" } ]
`, data)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	code := run([]string{"drain", "-config", path, "-timeout", "5s"}, &stdout, &stderr)
	want := `the config keeps the write log in NATS JetStream ([log-store] engine = "nats")`
	if code != 1 || !strings.Contains(stderr.String(), want) {
		t.Errorf("drain: exit %d, stderr:\n%s\nwant exit 1 and %q", code, stderr.String(), want)
	}
}
