package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// check-config names a bad key and its line, and lists every problem.
func TestCheckConfigNamesKeyAndLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("data-dir = \"/tmp/x\"\n\n[[http]]\nbind-adr = \"127.0.0.1:9096\"\noutput = [\n  { name = \"a\", location = \"http://127.0.0.1:8086/write\", timeout = \"ten seconds\" },\n]\n"), 0o600)
	out, err := exec.Command(influxgateBin, "check-config", "-config", bad).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("check-config on a bad file: %v\n%s", err, out)
	}
	for _, want := range []string{`bad.toml:4: unknown key "bind-adr"`, `did you mean "bind-addr"`, "bad.toml:6:", "timeout"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(influxgateBin, "check-config", "-config", "../../examples/influxgate.toml").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "configuration OK") {
		t.Errorf("check-config on the sample: %v\n%s", err, out)
	}
	out, err = exec.Command(influxgateBin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "influxgate ") {
		t.Errorf("version: %v %s", err, out)
	}
}

// influxdb-relay's sample config runs unchanged: influxgate starts on it,
// listens where it says, and keeps writes for its outputs (there is no
// InfluxDB on 8086/7086 here, so they wait in the log).
func TestInfluxDBRelaySampleRunsUnchanged(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	cmd := exec.Command(influxgateBin, "-config", "../../examples/influxdb-relay.toml", "-data-dir", dataDir)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:9096/ping")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("influxgate did not listen on the sample's 127.0.0.1:9096: %v\n%s", err, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := do(t, "POST", "http://127.0.0.1:9096/write?db=db", "cpu v=1 1\n")
	if r.Status != 204 {
		t.Errorf("write: %d %s", r.Status, r.Body)
	}
	h := do(t, "GET", "http://127.0.0.1:9096/health", "")
	for _, name := range []string{`"local1"`, `"local2"`} {
		if !strings.Contains(h.Body, name) {
			t.Errorf("/health lacks output %s: %s", name, h.Body)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, log.String())
	}
}
