package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// influxgateBin is the influxgate binary built for the tests that run it
// as a subprocess (to kill -9 it, to run its subcommands).
var influxgateBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "influxgate-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	influxgateBin = filepath.Join(dir, "influxgate")
	build := exec.Command("go", "build", "-o", influxgateBin, "github.com/influxgate/influxgate/cmd/influxgate")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building influxgate for the e2e tests:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
