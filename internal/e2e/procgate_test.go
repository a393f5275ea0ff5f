package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// procGate is influxgate running as a subprocess, for tests that kill it.
type procGate struct {
	t       testing.TB
	dir     string
	cfgPath string
	url     string
	cmd     *exec.Cmd
	log     *os.File
	exited  chan struct{}
}

// nativeConfig renders a native config with one listener on addr in front
// of the backends (outputs named a, b, ...), plus extra top-level and
// per-output TOML. Unless topExtra sets shutdown-delay, the lame-duck
// phase of a SIGTERM lasts 200ms instead of the default 5s: it still
// runs, without slowing every test that stops influxgate.
func nativeConfig(dataDir, addr, topExtra, outputExtra string, backends ...*testinflux.Server) string {
	var b strings.Builder
	if !strings.Contains(topExtra, "shutdown-delay") {
		topExtra = "shutdown-delay = \"200ms\"\n" + topExtra
	}
	fmt.Fprintf(&b, "data-dir = %q\nwrite-timeout = \"5s\"\nshutdown-timeout = \"10s\"\n%s\n", dataDir, topExtra)
	fmt.Fprintf(&b, "[[http]]\nname = \"http\"\nbind-addr = %q\noutput = [\n", addr)
	for i, s := range backends {
		extra := ""
		if outputExtra != "" {
			extra = ", " + outputExtra
		}
		fmt.Fprintf(&b, "  { name = %q, location = %q, max-delay-interval = \"1s\", timeout = \"5s\"%s },\n",
			string(rune('a'+i)), s.WriteURL(), extra)
	}
	b.WriteString("]\n")
	return b.String()
}

func newProcGate(t testing.TB, config func(dataDir, addr string) string) *procGate {
	t.Helper()
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testinflux.FreePort(t))
	p := &procGate{t: t, dir: dir, cfgPath: filepath.Join(dir, "influxgate.toml"), url: "http://" + addr}
	if err := os.WriteFile(p.cfgPath, []byte(config(filepath.Join(dir, "data"), addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	if p.log, err = os.Create(filepath.Join(dir, "influxgate.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.kill()
		p.log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(p.log.Name())
			t.Logf("influxgate log:\n%s", clip(string(b)))
		}
	})
	p.start()
	return p
}

// start runs influxgate and waits until /ping answers.
func (p *procGate) start() {
	p.t.Helper()
	p.cmd = exec.Command(influxgateBin, "-config", p.cfgPath)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(p.cmd, p.exited)
	// Longer than jetlog's start budget (45 s): a node started while a
	// NATS server is down waits for the cluster to elect new leaders for
	// its buckets and streams before it listens.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			b, _ := os.ReadFile(p.log.Name())
			p.t.Fatalf("influxgate exited at start:\n%s", clip(string(b)))
		default:
		}
		if resp, err := http.Get(p.url + "/ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatal("influxgate did not answer /ping within 60s")
}

// kill sends SIGKILL and waits for the process to go.
func (p *procGate) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.cmd = nil
}

// terminate sends SIGTERM and returns the exit code once influxgate has
// exited (after its lame-duck delay and shutdown).
func (p *procGate) terminate() int {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	return p.waitExit()
}

// signal sends sig to the running influxgate.
func (p *procGate) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal influxgate: %v", err)
	}
}

// waitExit waits up to 30s for influxgate to exit and returns its code.
func (p *procGate) waitExit() int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.t.Fatal("influxgate did not stop within 30s of SIGTERM")
	}
	code := p.cmd.ProcessState.ExitCode()
	p.cmd = nil
	return code
}

// addr is the listener's host:port.
func (p *procGate) addr() string { return strings.TrimPrefix(p.url, "http://") }

// logText is what influxgate has logged so far (every run of it).
func (p *procGate) logText() string {
	b, _ := os.ReadFile(p.log.Name())
	return string(b)
}

// asGate lets the in-process helpers (health, write) talk to it.
func (p *procGate) asGate() *gate { return &gate{t: p.t, url: p.url} }
