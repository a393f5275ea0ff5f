package testinflux

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Version names an influxd release the tests run against.
type Version string

// The influxd versions available to tests.
const (
	V167  Version = "1.6.7"  // Debian's influxdb package
	V1810 Version = "1.8.10" // upstream, built by make influxd-1.8; has /api/v2
)

// Credentials of the admin user Start creates on servers with Options.Auth.
const (
	AdminUser     = "admin"
	AdminPassword = "testinflux-secret"
)

const (
	defaultUDPBatchTimeout = 10 * time.Millisecond
	defaultStartTimeout    = 30 * time.Second
	defaultFluxTimeout     = 2 * time.Minute // Flux adds seconds of CPU at start
	stopTimeout            = 15 * time.Second
	startAttempts          = 3
)

// Options configures a server.
type Options struct {
	// Version selects the binary; the zero value means V167.
	Version Version
	// Auth sets [http] auth-enabled = true. Start then creates the admin
	// user AdminUser/AdminPassword and the query helpers use it.
	Auth bool
	// NoAdmin (with Auth) leaves the server without users, in the state
	// where it answers 403 "create admin user first". The helpers send no
	// credentials until SetCredentials is called.
	NoAdmin bool
	// Flux sets [http] flux-enabled = true so /api/v2/query works. Only
	// V1810 has it, and it costs seconds of start-up time.
	Flux bool
	// UDP, if set, enables one [[udp]] listener on a free port (UDPAddr).
	UDP *UDPOptions
	// TLS, if set, serves HTTPS with the given certificate and key (PEM
	// files): URL() then starts with https://. The harness's own client
	// does not verify the certificate.
	TLS *TLSOptions
	// ExtraConfig is TOML merged into the generated config: its tables merge
	// key by key into the generated ones (its values win), its arrays of
	// tables ([[graphite]], another [[udp]] on a port from FreeUDPPort) are
	// added after the generated ones, other keys are set. It may not set the
	// keys the harness relies on (addresses, directories, http.enabled,
	// http.auth-enabled, http.flux-enabled, http.https-enabled,
	// logging.level); Start fails the test if it tries. Example:
	//
	//	ExtraConfig: "[http]\nmax-body-size = 1000\n[coordinator]\nmax-select-point = 10\n"
	//
	// /ping must stay reachable without credentials for start-up to work.
	ExtraConfig string
	// StartTimeout bounds each wait for /ping; zero means 30 s, or 2 min
	// with Flux.
	StartTimeout time.Duration
}

// TLSOptions names the certificate and key influxd serves HTTPS with.
type TLSOptions struct {
	CertFile string
	KeyFile  string
}

// UDPOptions configures the [[udp]] listener.
type UDPOptions struct {
	Database  string // database the points go to; "" means "udp" (influxd's default)
	Precision string // timestamp precision of the packets; "" means ns
	// BatchTimeout is how long influxd buffers points before writing them;
	// zero means 10ms (influxd's default of 1s would slow every UDP test).
	BatchTimeout time.Duration
}

// Server is one influxd process with its own ports and directory. Its
// methods may be called from several goroutines.
type Server struct {
	opts     Options
	bin      string
	dir      string // the instance directory (config, log, pidfile, var/)
	rpcPort  int
	httpPort int
	udpPort  int // 0 without UDP
	timeout  time.Duration
	client   *http.Client

	life sync.Mutex           // serializes start, stop, kill, wipe
	proc atomic.Pointer[proc] // the running process, nil when stopped

	credMu    sync.Mutex
	user      string // credentials the helpers send; "" for none
	password  string
	needAdmin bool // the admin user must be created after the next start
}

// Binary returns the path of the influxd binary for v, or an error saying
// how to get it.
func Binary(v Version) (string, error) {
	var env, path, hint string
	switch v {
	case V167, "":
		v, env, path, hint = V167, "INFLUXD_1_6", "/usr/bin/influxd", "apt-get install influxdb"
	case V1810:
		env, hint = "INFLUXD_1_8", "make influxd-1.8"
		home, err := os.UserHomeDir()
		if err != nil {
			home = "~"
		}
		path = filepath.Join(home, ".cache", "influxgate", "influxd-1.8.10", "influxd")
	default:
		return "", fmt.Errorf("unknown influxd version %q (have %s and %s)", v, V167, V1810)
	}
	if p := os.Getenv(env); p != "" {
		path = p
	}
	fi, err := os.Stat(path)
	if err == nil && (fi.IsDir() || fi.Mode()&0o111 == 0) {
		err = errors.New("not an executable file")
	}
	if err != nil {
		return "", fmt.Errorf("influxd %s not usable at %s (%v): run `%s` or set %s to its path", v, path, err, hint, env)
	}
	return path, nil
}

// Start starts a fresh influxd in a t.TempDir() on free loopback ports and
// waits until GET /ping answers 204. Start-up failures (including a missing
// binary) fail the test with the tail of influxd's log; a port taken between
// choice and bind is retried with new ports. t.Cleanup kills the server.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := newServer(opts, t.TempDir())
	if err != nil {
		t.Fatalf("testinflux: %v", err)
	}
	t.Cleanup(func() { s.cleanup(t) })

	s.life.Lock()
	defer s.life.Unlock()
	for attempt := 1; ; attempt++ {
		s.rpcPort, s.httpPort = FreePort(t), FreePort(t)
		if opts.UDP != nil {
			s.udpPort = FreeUDPPort(t)
		}
		err := s.launch()
		if err == nil {
			break
		}
		var se *startError
		if errors.As(err, &se) && se.addrInUse && attempt < startAttempts {
			t.Logf("testinflux: influxd %s lost a port race, retrying with new ports: %v", s.opts.Version, se.cause)
			continue
		}
		t.Fatalf("testinflux: start influxd %s in %s: %v", s.opts.Version, s.dir, err)
	}
	s.afterStart(t)
	return s
}

// newServer checks opts and prepares a server in dir without starting it.
func newServer(opts Options, dir string) (*Server, error) {
	if opts.Version == "" {
		opts.Version = V167
	}
	bin, err := Binary(opts.Version)
	if err != nil {
		return nil, err
	}
	if opts.Flux && opts.Version != V1810 {
		return nil, fmt.Errorf("Flux needs influxd %s, not %s", V1810, opts.Version)
	}
	s := &Server{
		opts:      opts,
		bin:       bin,
		dir:       dir,
		timeout:   opts.StartTimeout,
		needAdmin: opts.Auth && !opts.NoAdmin,
		client: &http.Client{
			// Its own transport, so that idle connections to a stopped
			// server can be dropped without touching anyone else's.
			Transport: &http.Transport{MaxIdleConnsPerHost: 8,
				TLSClientConfig: &tls.Config{InsecureSkipVerify: opts.TLS != nil}}, //nolint:gosec // test servers
			Timeout: 2 * time.Minute,
		},
	}
	if s.timeout <= 0 {
		s.timeout = defaultStartTimeout
		if opts.Flux {
			s.timeout = defaultFluxTimeout
		}
	}
	return s, nil
}

// URL is the HTTP base URL, "http://127.0.0.1:PORT" (https with TLS).
func (s *Server) URL() string {
	if s.opts.TLS != nil {
		return "https://" + s.Addr()
	}
	return "http://" + s.Addr()
}

// Addr is the HTTP address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return loopback(s.httpPort) }

// WriteURL is URL()+"/write".
func (s *Server) WriteURL() string { return s.URL() + "/write" }

// UDPAddr is the UDP listener's address, "127.0.0.1:PORT", or "" without
// Options.UDP.
func (s *Server) UDPAddr() string {
	if s.udpPort == 0 {
		return ""
	}
	return loopback(s.udpPort)
}

// Version is the server's influxd version.
func (s *Server) Version() Version { return s.opts.Version }

// DataDir is the directory holding the server's meta/, data/ and wal/.
func (s *Server) DataDir() string { return filepath.Join(s.dir, "var") }

// LogPath is the file influxd's stdout and stderr go to (appended to on
// every start).
func (s *Server) LogPath() string { return filepath.Join(s.dir, "influxd.log") }

// Running reports whether the influxd process is alive.
func (s *Server) Running() bool {
	p := s.proc.Load()
	return p != nil && !p.exited()
}

// Credentials returns the user and password the helpers send ("" when none).
func (s *Server) Credentials() (user, password string) {
	s.credMu.Lock()
	defer s.credMu.Unlock()
	return s.user, s.password
}

// SetCredentials sets the user and password the helpers send, for servers
// started with Auth and NoAdmin once the test has created a user.
func (s *Server) SetCredentials(user, password string) {
	s.credMu.Lock()
	defer s.credMu.Unlock()
	s.user, s.password = user, password
}

// Stop stops the server gracefully: SIGTERM, then SIGKILL if it has not
// exited within 15 s. Data, ports and credentials are kept for Restart.
// Stopping a stopped server does nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.life.Lock()
	defer s.life.Unlock()
	if s.stop(false) {
		t.Logf("testinflux: influxd %s did not stop within %v of SIGTERM; killed it", s.opts.Version, stopTimeout)
	}
}

// Kill kills the server with SIGKILL, as a crash would, and waits for it to
// exit. The data written so far stays (influxd replays its WAL on Restart).
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.life.Lock()
	defer s.life.Unlock()
	s.stop(true)
}

// PID is the influxd process id, or 0 when the server is not running.
func (s *Server) PID() int {
	if p := s.proc.Load(); p != nil && !p.exited() {
		return p.cmd.Process.Pid
	}
	return 0
}

// Pause freezes the server with SIGSTOP: connections are accepted by the
// kernel but nothing answers, as with a hung backend. Resume undoes it;
// Stop, Kill and the test's cleanup work on a paused server too.
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGSTOP)
}

// Resume continues a server frozen by Pause (SIGCONT).
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGCONT)
}

func (s *Server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	s.life.Lock()
	defer s.life.Unlock()
	p := s.proc.Load()
	if p == nil || p.exited() {
		t.Fatalf("testinflux: influxd %s at %s is not running", s.opts.Version, s.Addr())
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("testinflux: signal influxd %s at %s: %v", s.opts.Version, s.Addr(), err)
	}
	if err := waitStopped(p.cmd.Process.Pid, sig == syscall.SIGSTOP); err != nil {
		t.Fatalf("testinflux: influxd %s at %s: %v", s.opts.Version, s.Addr(), err)
	}
}

// Restart starts the server again on the same ports and data directory,
// stopping it gracefully first if it is running, and waits for /ping.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.life.Lock()
	defer s.life.Unlock()
	s.stop(false)
	if err := s.launch(); err != nil {
		t.Fatalf("testinflux: restart influxd %s on %s: %v", s.opts.Version, s.Addr(), err)
	}
	s.afterStart(t)
}

// Wipe stops the server and deletes its data, meta data (databases, users)
// and WAL. The caller restarts it with Restart; with Auth the admin user is
// then created again.
func (s *Server) Wipe(t testing.TB) {
	t.Helper()
	s.life.Lock()
	defer s.life.Unlock()
	s.stop(false)
	if err := os.RemoveAll(s.DataDir()); err != nil {
		t.Fatalf("testinflux: wipe %s: %v", s.DataDir(), err)
	}
	s.credMu.Lock()
	s.needAdmin = s.opts.Auth && !s.opts.NoAdmin
	if s.opts.Auth { // the users are gone with the meta data
		s.user, s.password = "", ""
	}
	s.credMu.Unlock()
}

// afterStart creates the admin user when the server needs one. The caller
// holds s.life.
func (s *Server) afterStart(t testing.TB) {
	t.Helper()
	s.credMu.Lock()
	need := s.needAdmin
	s.credMu.Unlock()
	if !need {
		return
	}
	// No credentials exist yet, so this runs without any; influxd allows
	// exactly this statement in that state.
	q := fmt.Sprintf("CREATE USER %s WITH PASSWORD '%s' WITH ALL PRIVILEGES", QuoteIdent(AdminUser), AdminPassword)
	s.Exec(t, q)
	s.credMu.Lock()
	s.user, s.password, s.needAdmin = AdminUser, AdminPassword, false
	s.credMu.Unlock()
}

// cleanup is the t.Cleanup of Start: it kills the process and reports a
// crash nobody asked for, which is otherwise easy to miss.
func (s *Server) cleanup(t testing.TB) {
	p := s.proc.Load()
	if p != nil && p.exited() && !p.stopping.Load() {
		t.Logf("testinflux: influxd %s on %s exited on its own (%v); log tail:\n%s",
			s.opts.Version, s.Addr(), p.err, s.logTail(p.logOffset))
	}
	s.life.Lock()
	defer s.life.Unlock()
	s.stop(true)
	s.client.CloseIdleConnections()
}

func loopback(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
