package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The real-client tests (clients_*_test.go) drive programs that are not Go
// modules: Telegraf, built into the cache by `make telegraf`, and Debian's
// python3-influxdb. Under `make test`, which installs both and sets
// INFLUXGATE_REQUIRE_CLIENTS=1, a missing client fails its test; under a
// plain `go test` it skips the test and says how to get the client.

const (
	requireClientsEnv = "INFLUXGATE_REQUIRE_CLIENTS"
	telegrafEnv       = "TELEGRAF_BIN"
	telegrafVersion   = "1.37.2" // keep in step with TELEGRAF_VERSION in the Makefile
	// python3 is Debian's, the interpreter python3-influxdb installs into;
	// a python3 found first on PATH (pyenv, a venv) may lack the module.
	python3 = "/usr/bin/python3"
)

// missingClient skips the test, or fails it when the clients are required.
func missingClient(t testing.TB, why, how string) {
	t.Helper()
	if os.Getenv(requireClientsEnv) == "1" {
		t.Fatalf("%s; %s=1 requires the client tests to run: %s", why, requireClientsEnv, how)
	}
	t.Skipf("%s: %s (make test does it and then runs this test)", why, how)
}

// telegrafBinary returns the Telegraf binary: $TELEGRAF_BIN, else where
// `make telegraf` puts it.
func telegrafBinary(t testing.TB) string {
	t.Helper()
	path := os.Getenv(telegrafEnv)
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "~"
		}
		path = filepath.Join(home, ".cache", "influxgate", "telegraf-"+telegrafVersion, "telegraf")
	}
	fi, err := os.Stat(path)
	if err == nil && (fi.IsDir() || fi.Mode()&0o111 == 0) {
		err = errors.New("not an executable file")
	}
	if err != nil {
		missingClient(t, "Telegraf not usable at "+path+" ("+err.Error()+")",
			"run `make telegraf` or set "+telegrafEnv+" to a Telegraf "+telegrafVersion+" built with the plugins the Makefile names")
	}
	return path
}

// pythonInfluxDB returns the Python interpreter that has the influxdb
// module (python3-influxdb).
func pythonInfluxDB(t testing.TB) string {
	t.Helper()
	out, err := exec.Command(python3, "-c", "import influxdb; print(influxdb.__version__)").CombinedOutput()
	if err != nil {
		missingClient(t, python3+" cannot import influxdb ("+strings.TrimSpace(string(out))+")",
			"run `apt-get install python3-influxdb` (scripts/install-deps.sh)")
	}
	return python3
}

// runClient runs a client program to completion within limit and returns
// its output (stdout and stderr); a failure or a timeout fails the test
// with that output.
func runClient(t testing.TB, limit time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, clip(string(out)))
	}
	return string(out)
}
