package testinflux

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatal ends only the goroutine running
// the call under test and records the message, so that tests can check how
// the harness fails a test. Everything else goes to the real test.
type fatalRecorder struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *fatalRecorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }
func (r *fatalRecorder) FailNow()          { r.Fatalf("FailNow") }

// expectFatal runs f with a fatalRecorder and returns the message it failed
// with; it fails t if f did not fail.
func expectFatal(t *testing.T, f func(tb testing.TB)) string {
	t.Helper()
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) == 0 {
		t.Fatal("the call did not fail the test")
	}
	return r.msgs[0]
}

func TestMissingBinaryFailsWithHint(t *testing.T) {
	// t.Setenv rules out t.Parallel.
	tests := []struct {
		env  string
		v    Version
		hint string
	}{
		{"INFLUXD_1_6", V167, "apt-get install influxdb"},
		{"INFLUXD_1_8", V1810, "make influxd-1.8"},
	}
	for _, tt := range tests {
		t.Run(string(tt.v), func(t *testing.T) {
			t.Setenv(tt.env, "/nonexistent/influxd")
			_, err := Binary(tt.v)
			if err == nil || !strings.Contains(err.Error(), tt.hint) || !strings.Contains(err.Error(), tt.env) {
				t.Errorf("Binary(%s) error = %v, want a hint with %q and %s", tt.v, err, tt.hint, tt.env)
			}
			msg := expectFatal(t, func(tb testing.TB) { Start(tb, Options{Version: tt.v}) })
			if !strings.Contains(msg, tt.hint) {
				t.Errorf("Start failed with %q, want the hint %q", msg, tt.hint)
			}
		})
	}
	t.Run("not executable", func(t *testing.T) {
		t.Setenv("INFLUXD_1_6", t.TempDir())
		if _, err := Binary(V167); err == nil {
			t.Error("Binary accepted a directory")
		}
	})
}

func TestStartRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"unknown version", Options{Version: "2.7.0"}, "unknown influxd version"},
		{"flux on 1.6.7", Options{Flux: true}, "Flux needs influxd 1.8.10"},
		{"owned key", Options{ExtraConfig: "[http]\nbind-address = \":8086\"\n"}, "http.bind-address is set by testinflux"},
		{"bad toml", Options{ExtraConfig: "[http\n"}, "parse ExtraConfig"},
		// influxd itself rejects the value; Start shows influxd's log.
		{"influxd fails", Options{ExtraConfig: "[http]\nmax-body-size = \"abc\"\n"}, "parse config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := expectFatal(t, func(tb testing.TB) { Start(tb, tt.opts) })
			if !strings.Contains(msg, tt.want) {
				t.Errorf("Start failed with %q, want %q in it", msg, tt.want)
			}
		})
	}
}

func TestQueryFailsOnHTTPError(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	msg := expectFatal(t, func(tb testing.TB) { s.Query(tb, "db", "SELECT FROM WHERE") })
	if !strings.Contains(msg, "HTTP 400") {
		t.Errorf("Query of bad syntax failed with %q, want HTTP 400", msg)
	}
	msg = expectFatal(t, func(tb testing.TB) { s.Write(tb, "nodb", "", "m v=1") })
	if !strings.Contains(msg, "HTTP 404") || !strings.Contains(msg, "database not found") {
		t.Errorf("Write to a missing database failed with %q", msg)
	}
	msg = expectFatal(t, func(tb testing.TB) { s.Exec(tb, "DROP USER nobody") })
	if !strings.Contains(msg, "user not found") {
		t.Errorf("Exec of a failing statement failed with %q", msg)
	}
	s.CreateDatabase(t, "db")
	msg = expectFatal(t, func(tb testing.TB) { s.WaitCount(tb, "db", "m", 1, 50*time.Millisecond) })
	if !strings.Contains(msg, "have 0 points") {
		t.Errorf("WaitCount failed with %q", msg)
	}
	s.Kill(t)
	msg = expectFatal(t, func(tb testing.TB) { s.Query(tb, "", "SHOW DATABASES") })
	if !strings.Contains(msg, "not running") {
		t.Errorf("Query of a killed server failed with %q", msg)
	}
}

// TestPortTakenByAnotherServer holds the HTTP port with a server that
// answers /ping like influxd. Start must not take that answer for its own
// server's: launch has to report the port race.
func TestPortTakenByAnotherServer(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	impostor := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})}
	go impostor.Serve(l)
	defer impostor.Close()

	s, err := newServer(Options{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cleanup(t) })
	s.rpcPort = FreePort(t)
	s.httpPort = l.Addr().(*net.TCPAddr).Port
	s.life.Lock()
	err = s.launch()
	s.life.Unlock()
	var se *startError
	if !errors.As(err, &se) || !se.addrInUse {
		t.Fatalf("launch on a taken port = %v, want a port race error", err)
	}
	if s.Running() {
		t.Error("Running() after a failed launch")
	}
}

// TestInfluxdDiesWithTestBinary SIGKILLs a test binary that runs a server
// and checks that the kernel killed influxd too (Pdeathsig).
func TestInfluxdDiesWithTestBinary(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux-only")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServerProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "TESTINFLUX_HELPER=1", "TMPDIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	pid := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "influxd-pid="); ok {
			pid, _ = strconv.Atoi(p)
			break
		}
	}
	if pid == 0 {
		t.Fatalf("the helper did not report a pid (scan error %v)", sc.Err())
	}
	if !alive(pid) {
		t.Fatalf("influxd %d not running while the helper lives", pid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("influxd %d outlived its SIGKILLed test binary", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHelperServerProcess is the child of TestInfluxdDiesWithTestBinary:
// it starts a server, prints influxd's pid and waits to be killed.
func TestHelperServerProcess(t *testing.T) {
	if os.Getenv("TESTINFLUX_HELPER") != "1" {
		t.Skip("helper process for TestInfluxdDiesWithTestBinary")
	}
	s := Start(t, Options{})
	// Retire some runtime threads while influxd runs, as other tests may:
	// the server must survive that. (This cannot prove that startProc's
	// thread lock is needed: the waiting goroutine usually stays on the
	// forking thread even without it. The lock makes that a guarantee.)
	for range 50 {
		go func() {
			runtime.LockOSThread() // exits locked: the runtime ends the thread
		}()
	}
	fmt.Printf("influxd-pid=%d\n", s.PID())
	time.Sleep(time.Minute)
	t.Error("the helper was not killed")
}
