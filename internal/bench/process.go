package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// ProcSpec describes a subprocess to start.
type ProcSpec struct {
	Name string   // for messages
	Path string   // binary
	Args []string // arguments after the binary
	Env  []string // added to (and overriding) the harness's environment
	// CPUs pins the process with "taskset -c CPUs" ("" leaves it free).
	// taskset execs the binary, so the process keeps taskset's PID.
	CPUs string
	Dir  string // working directory; "" = the harness's
	Log  string // file that receives stdout and stderr
}

// Process is a running subprocess. It is killed if the harness dies.
type Process struct {
	spec ProcSpec
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, set before done is closed
}

// StartProcess starts spec.
func StartProcess(spec ProcSpec) (*Process, error) {
	path, args := spec.Path, spec.Args
	if spec.CPUs != "" {
		ts, err := exec.LookPath("taskset")
		if err != nil {
			return nil, fmt.Errorf("pinning %s: %w", spec.Name, err)
		}
		path, args = ts, append([]string{"-c", spec.CPUs, spec.Path}, spec.Args...)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), spec.Env...)
	if spec.Log != "" {
		f, err := os.OpenFile(spec.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close() // the child has its own descriptor
		cmd.Stdout, cmd.Stderr = f, f
	}
	setPdeathsig(cmd)
	p := &Process{spec: spec, cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	// The parent-death signal fires when the thread that forked the child
	// exits, so that thread stays locked, waiting, for the child's life.
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	return p, nil
}

// PID is the process id (the pinned binary's own, see ProcSpec.CPUs).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to grace, then SIGKILL. It reports
// whether the process had to be killed.
func (p *Process) Stop(grace time.Duration) (killed bool) {
	if p.Exited() {
		return false
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return false
	case <-t.C:
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		return true
	}
}

// LogTail returns the last n lines of the process's log file.
func (p *Process) LogTail(n int) string {
	if p.spec.Log == "" {
		return ""
	}
	b, err := os.ReadFile(p.spec.Log)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.spec.Log, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitHTTP polls GET url until it answers with a 2xx status, the process
// exits or timeout passes.
func (p *Process) WaitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	for {
		if p.Exited() {
			return fmt.Errorf("%s exited (%v) before it answered %s; log tail:\n%s", p.spec.Name, p.err, url, p.LogTail(20))
		}
		if resp, err := hc.Get(url); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer %s within %v; log tail:\n%s", p.spec.Name, url, timeout, p.LogTail(20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
// Another process may take it before the caller binds it; callers that
// start servers retry with a new one (see startRetrying).
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startRetrying calls start with a fresh address until it succeeds, at most
// three times, retrying only when the log says the address was taken.
func startRetrying(start func(addr string) (*Process, error)) (*Process, string, error) {
	var err error
	for range 3 {
		var addr string
		if addr, err = freeAddr(); err != nil {
			return nil, "", err
		}
		var p *Process
		if p, err = start(addr); err == nil {
			return p, addr, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, "", err
}

// SinkProcess is a sink running as its own process (see ServeSink), used to
// measure the ceiling with the sink pinned where the relay would be.
type SinkProcess struct {
	*Process
	Addr string
}

// StartSinkProcess runs command (the bench binary and its "sink"
// subcommand) and reads the address the sink printed.
func StartSinkProcess(command []string, cpus string, env []string, log string) (*SinkProcess, error) {
	if len(command) == 0 {
		return nil, errors.New("no sink command")
	}
	addrFile := log + ".addr"
	os.Remove(addrFile)
	p, err := StartProcess(ProcSpec{Name: "ceiling sink", Path: command[0],
		Args: append(command[1:], "-addr-file", addrFile), CPUs: cpus, Env: env, Log: log})
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return &SinkProcess{Process: p, Addr: strings.TrimSpace(string(b))}, nil
		}
		if p.Exited() || time.Now().After(deadline) {
			p.Stop(time.Second)
			return nil, fmt.Errorf("ceiling sink did not start; log tail:\n%s", p.LogTail(20))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ServeSink runs a healthy sink on addr until ctx ends, after writing its
// address and a newline to addrFile. It is the body of the bench tool's
// "sink" subcommand.
func ServeSink(ctx context.Context, addr, addrFile string) error {
	s, err := StartSink(addr, SinkOptions{})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := os.WriteFile(addrFile+".tmp", []byte(s.Addr()+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(addrFile+".tmp", addrFile); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
