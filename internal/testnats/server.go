package testnats

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// Version is the nats-server release `make nats-server` builds.
const Version = "2.14.10"

// Options configure a cluster.
type Options struct {
	// Servers is 1 (a single server, no cluster) or more (a cluster).
	Servers int
	// MaxPayload is the largest message in bytes (default 8 MiB, NATS's
	// recommended upper bound; the server's own default is 1 MiB).
	MaxPayload int
	// SyncAlways sets jetstream sync_interval: always (fsync before every
	// acknowledgement; the setting for power loss of every server at once).
	SyncAlways bool
}

// Cluster is a set of running servers.
type Cluster struct {
	Servers []*Server
	name    string
}

// Server is one nats-server process.
type Server struct {
	Name        string
	Port        int
	ClusterPort int
	MonitorPort int
	dir         string
	bin         string
	conf        string
	cmd         *exec.Cmd
	done        chan struct{}
}

// Binary returns the nats-server to run.
func Binary() (string, error) {
	if p := os.Getenv("NATS_SERVER"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("NATS_SERVER=%s: %w (make nats-server builds it)", p, err)
		}
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "influxgate", "nats-server-"+Version, "nats-server")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server", nil
	}
	return "", errors.New("nats-server not found: run `make nats-server` (or apt-get install nats-server, or set NATS_SERVER)")
}

// Start starts opts.Servers servers and waits until JetStream is ready.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Servers <= 0 {
		opts.Servers = 1
	}
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = 8 << 20
	}
	c := &Cluster{name: fmt.Sprintf("ig%d", time.Now().UnixNano()%1e6)}
	root := t.TempDir()
	for i := range opts.Servers {
		s := &Server{Name: fmt.Sprintf("n%d", i+1), bin: bin,
			Port: testinflux.FreePort(t), ClusterPort: testinflux.FreePort(t), MonitorPort: testinflux.FreePort(t)}
		s.dir = filepath.Join(root, s.Name)
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		c.Servers = append(c.Servers, s)
	}
	for _, s := range c.Servers {
		if err := s.writeConfig(c, opts); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, s := range c.Servers {
			s.kill()
		}
	})
	for _, s := range c.Servers {
		if err := s.launch(); err != nil {
			t.Fatalf("start %s: %v", s.Name, err)
		}
	}
	if err := c.waitReady(60 * time.Second); err != nil {
		for _, s := range c.Servers {
			t.Logf("%s log tail:\n%s", s.Name, s.LogTail())
		}
		t.Fatalf("NATS cluster not ready: %v", err)
	}
	return c
}

// URLs returns the client URLs of every server.
func (c *Cluster) URLs() []string {
	var out []string
	for _, s := range c.Servers {
		out = append(out, s.URL())
	}
	return out
}

// URL is the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.Port) }

func (s *Server) writeConfig(c *Cluster, opts Options) error {
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %s\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\nmax_payload: %d\n",
		s.Name, s.Port, s.MonitorPort, opts.MaxPayload)
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n  max_memory_store: 256MB\n  max_file_store: 4GB\n", filepath.Join(s.dir, "js"))
	if opts.SyncAlways {
		b.WriteString("  sync_interval: always\n")
	}
	b.WriteString("}\n")
	if len(c.Servers) > 1 {
		fmt.Fprintf(&b, "cluster {\n  name: %s\n  listen: 127.0.0.1:%d\n  routes: [\n", c.name, s.ClusterPort)
		for _, o := range c.Servers {
			if o != s {
				fmt.Fprintf(&b, "    nats-route://127.0.0.1:%d\n", o.ClusterPort)
			}
		}
		b.WriteString("  ]\n}\n")
	}
	s.conf = filepath.Join(s.dir, "nats.conf")
	return os.WriteFile(s.conf, []byte(b.String()), 0o600)
}

// launch starts the process from a locked OS thread (Pdeathsig is tied to
// the thread that forked the child).
func (s *Server) launch() error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "nats.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "-c", s.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	if err := <-started; err != nil {
		logf.Close()
		return err
	}
	s.cmd, s.done = cmd, done
	return nil
}

// Running reports whether the process is alive.
func (s *Server) Running() bool {
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func (s *Server) kill() {
	if s.Running() {
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Kill kills the server with SIGKILL.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.kill()
}

// Restart starts a killed or stopped server again with the same ports and
// store, and waits until it answers /healthz.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.kill()
	if err := s.launch(); err != nil {
		t.Fatalf("restart %s: %v", s.Name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !s.healthy() {
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy after restart:\n%s", s.Name, s.LogTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) healthy() bool {
	cl := http.Client{Timeout: time.Second}
	resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", s.MonitorPort))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// LogTail returns the end of the server's log.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "nats.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (c *Cluster) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	for _, s := range c.Servers {
		for !s.healthy() {
			if !s.Running() {
				return fmt.Errorf("%s exited", s.Name)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: /healthz not 200", s.Name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	nc, err := nats.Connect(strings.Join(c.URLs(), ","), nats.Timeout(2*time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, last = js.CreateStream(ctx, jetstream.StreamConfig{Name: "testnats_probe", Subjects: []string{"testnats.probe"},
			Replicas: len(c.Servers), Storage: jetstream.MemoryStorage})
		if last == nil {
			last = js.DeleteStream(ctx, "testnats_probe")
		}
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("JetStream not ready: %w", last)
}
