package e2e

import (
	"encoding/csv"
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

// A real load balancer in front of influxgate nodes: Debian's HAProxy and
// nginx (scripts/install-deps.sh installs them), run in the foreground on
// free loopback ports with the configs of contrib/ as they are. The
// addresses reach them the way docs/deployment.md tells operators: HAProxy
// reads "${NAME}" from its environment; the nginx file is rendered as
// envsubst would render it, with the same names.

// balancer is a running load balancer.
type balancer struct {
	t     testing.TB
	addr  string // where clients connect
	stats string // HAProxy's statistics page; "" for nginx
	cmd   *exec.Cmd
	log   *os.File
	done  chan struct{}
}

// lbVars are the placeholders of the contrib configs.
func lbVars(t testing.TB, node1, node2 string) map[string]string {
	return map[string]string{
		"INFLUXGATE_LB_ADDR": fmt.Sprintf("127.0.0.1:%d", testinflux.FreePort(t)),
		"INFLUXGATE_NODE1":   node1,
		"INFLUXGATE_NODE2":   node2,
		"HAPROXY_STATS_ADDR": fmt.Sprintf("127.0.0.1:%d", testinflux.FreePort(t)),
	}
}

// lbBinary finds a balancer's binary (Debian puts them in /usr/sbin, which
// is not on every PATH).
func lbBinary(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/sbin/" + name; isExecutable(p) {
		return p
	}
	missingClient(t, name+" not found", "run `apt-get install "+name+"` (scripts/install-deps.sh)")
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// startHAProxy runs haproxy -db with contrib/haproxy/<file> in front of
// node1 and node2 (host:port) and waits until its statistics page answers.
func startHAProxy(t testing.TB, file, node1, node2 string) *balancer {
	t.Helper()
	vars := lbVars(t, node1, node2)
	cmd := exec.Command(lbBinary(t, "haproxy"), "-f", filepath.Join("..", "..", "contrib", "haproxy", file), "-db")
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	b := &balancer{t: t, addr: vars["INFLUXGATE_LB_ADDR"], stats: vars["HAPROXY_STATS_ADDR"]}
	b.run(cmd, filepath.Join(t.TempDir(), "haproxy.log"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := b.statuses(); err == nil {
			return b
		} else if time.Now().After(deadline) {
			t.Fatalf("haproxy: statistics page not answering after 10s: %v\n%s", err, b.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run starts the balancer's process, logging to logPath, and stops it at
// the test's end.
func (b *balancer) run(cmd *exec.Cmd, logPath string) {
	b.t.Helper()
	var err error
	if b.log, err = os.Create(logPath); err != nil {
		b.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = b.log, b.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("%s: %v", cmd.Path, err)
	}
	b.cmd, b.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(b.done) }()
	b.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-b.done
		if b.t.Failed() {
			b.t.Logf("%s log:\n%s", filepath.Base(cmd.Path), clip(b.logText()))
		}
		b.log.Close()
	})
}

func (b *balancer) logText() string {
	out, _ := os.ReadFile(b.log.Name())
	return string(out)
}

// statuses returns HAProxy's view of the influxgate backend's servers:
// name → status (UP, DOWN, "UP 1/2" while going down, ...).
func (b *balancer) statuses() (map[string]string, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + b.stats + "/;csv")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	r := csv.NewReader(resp.Body)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || len(rows[0]) == 0 {
		return nil, fmt.Errorf("empty statistics")
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[strings.TrimPrefix(name, "# ")] = i
	}
	px, sv, st := col["pxname"], col["svname"], col["status"]
	out := map[string]string{}
	for _, row := range rows[1:] {
		if len(row) > st && row[px] == "influxgate" && row[sv] != "BACKEND" && row[sv] != "FRONTEND" {
			out[row[sv]] = row[st]
		}
	}
	return out, nil
}

// waitStatus waits until HAProxy reports server (node1, node2) in state
// want (UP or DOWN) and returns how long that took.
func (b *balancer) waitStatus(server, want string, within time.Duration) time.Duration {
	b.t.Helper()
	start := time.Now()
	last := ""
	for {
		st, err := b.statuses()
		if err == nil && st[server] == want {
			return time.Since(start)
		}
		if err == nil {
			last = st[server]
		}
		if time.Since(start) > within {
			b.t.Fatalf("haproxy: %s is %q after %v, want %s (%v)", server, last, within, want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startNginx renders contrib/nginx/influxgate.conf as envsubst would with
// the three names it documents, includes it in a minimal nginx.conf (the
// part an operator's system already has) and runs nginx in the foreground
// until it accepts connections.
func startNginx(t testing.TB, node1, node2 string) *balancer {
	t.Helper()
	bin := lbBinary(t, "nginx")
	vars := lbVars(t, node1, node2)
	src, err := os.ReadFile(filepath.Join("..", "..", "contrib", "nginx", "influxgate.conf"))
	if err != nil {
		t.Fatal(err)
	}
	site := string(src)
	for _, k := range []string{"INFLUXGATE_LB_ADDR", "INFLUXGATE_NODE1", "INFLUXGATE_NODE2"} {
		site = strings.ReplaceAll(site, "${"+k+"}", vars[k])
	}
	if i := strings.Index(site, "${"); i >= 0 {
		t.Fatalf("contrib/nginx/influxgate.conf: a placeholder the docs do not name: %.40s", site[i:])
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "influxgate.conf"), []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/influxgate.conf;
}
`, dir)
	if os.Geteuid() == 0 {
		// Workers would run as nobody, who cannot enter the test's
		// temporary directory.
		main = "user root;\n" + main
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &balancer{t: t, addr: vars["INFLUXGATE_LB_ADDR"]}
	b.run(exec.Command(bin, "-p", dir, "-c", conf), filepath.Join(dir, "nginx.log"))
	deadline := time.Now().Add(10 * time.Second)
	for notListening(b.addr) {
		select {
		case <-b.done:
			t.Fatalf("nginx exited at start:\n%s", b.logText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not listening on %s after 10s:\n%s", b.addr, b.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return b
}
