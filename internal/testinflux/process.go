package testinflux

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// readyLine is what influxd logs once Server.Open has opened every
	// service (1.6.7 and 1.8.10 alike).
	readyLine    = "Listening for signals"
	pollInterval = 5 * time.Millisecond
	pingTimeout  = 2 * time.Second
	tailLines    = 40
)

// proc is one influxd process.
type proc struct {
	cmd       *exec.Cmd
	done      chan struct{} // closed when the process has exited
	err       error         // cmd.Wait's result, set before done is closed
	logOffset int64         // where this run's output starts in the log
	stopping  atomic.Bool   // the harness signalled it; an exit is expected
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startProc starts cmd and waits for it in a goroutine locked to its OS
// thread. Linux delivers Pdeathsig when the thread that forked the child
// exits, not the process; the Go runtime may retire idle threads, so an
// unlocked fork could lose the child's death signal and kill it early.
// Keeping the forking thread busy in Wait for the child's whole life ties the
// signal to the process's life.
func startProc(cmd *exec.Cmd) (*proc, error) {
	p := &proc{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
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
		return nil, err
	}
	return p, nil
}

// startError is a failed start; addrInUse says a port was taken, so a start
// with other ports may succeed.
type startError struct {
	addrInUse bool
	cause     error
}

func (e *startError) Error() string { return e.cause.Error() }
func (e *startError) Unwrap() error { return e.cause }

// launch writes the config, starts influxd on the server's current ports and
// waits until it is ready. On failure the process is gone. The caller holds
// s.life.
func (s *Server) launch() error {
	cfg := instanceConfig{
		version:  s.opts.Version,
		rpcAddr:  loopback(s.rpcPort),
		httpAddr: s.Addr(),
		udpAddr:  s.UDPAddr(),
		varDir:   s.DataDir(),
		socket:   filepath.Join(s.dir, "influxd.sock"),
		auth:     s.opts.Auth,
		flux:     s.opts.Flux,
		udp:      s.opts.UDP,
		tls:      s.opts.TLS,
		extra:    s.opts.ExtraConfig,
	}
	text, err := cfg.render()
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(s.dir, "influxd.toml")
	if err := os.WriteFile(cfgPath, text, 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(s.DataDir(), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	off, err := logf.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "--- testinflux: %s starting %s on %s\n", time.Now().Format(time.RFC3339Nano), s.bin, s.Addr())

	cmd := exec.Command(s.bin, "-config", cfgPath, "-pidfile", filepath.Join(s.dir, "influxd.pid"))
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = childEnv(os.Environ())
	setPdeathsig(cmd)
	p, err := startProc(cmd)
	if err != nil {
		return fmt.Errorf("exec %s: %w", s.bin, err)
	}
	p.logOffset = off
	s.proc.Store(p)
	if err := s.waitReady(p); err != nil {
		p.stopping.Store(true)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		s.proc.Store(nil)
		return err
	}
	return nil
}

// waitReady polls until influxd has logged readyLine and answers /ping with
// 204, it exits, or s.timeout passes. Requiring the log line first means a
// /ping answered by some other server that holds our port is never mistaken
// for ours: our influxd cannot have opened every service in that case.
func (s *Server) waitReady(p *proc) error {
	deadline := time.Now().Add(s.timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	opened := false
	for {
		if p.exited() {
			tail := s.logTail(p.logOffset)
			return &startError{
				addrInUse: strings.Contains(tail, "address already in use"),
				cause:     fmt.Errorf("influxd exited (%v) before it was ready; log tail:\n%s", p.err, tail),
			}
		}
		if !opened {
			opened = s.logContains(p.logOffset, readyLine)
		}
		if opened && s.ping() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("influxd not ready after %v (log says all services open: %v); log tail:\n%s",
				s.timeout, opened, s.logTail(p.logOffset))
		}
		select {
		case <-p.done:
		case <-tick.C:
		}
	}
}

// ping reports whether GET /ping answers 204.
func (s *Server) ping() bool {
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/ping", nil)
	if err != nil {
		return false
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusNoContent
}

// stop ends the current process: SIGKILL if kill, else SIGTERM and SIGKILL
// after stopTimeout (then it reports true). The caller holds s.life.
func (s *Server) stop(kill bool) (escalated bool) {
	p := s.proc.Load()
	if p == nil {
		return false
	}
	defer s.client.CloseIdleConnections()
	defer s.proc.Store(nil)
	if p.exited() {
		return false
	}
	p.stopping.Store(true)
	if kill {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		return false
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a paused process would not act on SIGTERM
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return false
	case <-timer.C:
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		return true
	}
}

// readLog returns the log from off to its end.
func (s *Server) readLog(off int64) ([]byte, error) {
	f, err := os.Open(s.LogPath())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

func (s *Server) logContains(off int64, line string) bool {
	b, err := s.readLog(off)
	return err == nil && bytes.Contains(b, []byte(line))
}

// logTail returns the last tailLines lines of the log written since off.
func (s *Server) logTail(off int64) string {
	b, err := s.readLog(off)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", s.LogPath(), err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	return strings.Join(lines, "\n")
}

// childEnv drops INFLUXDB_* variables: influxd reads them as overrides of
// config keys (INFLUXDB_HTTP_BIND_ADDRESS, ...), which would break the
// generated config in surprising ways.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "INFLUXDB_") {
			out = append(out, kv)
		}
	}
	return out
}
