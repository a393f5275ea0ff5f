package e2e

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// Several influxgate nodes behind a real load balancer (docs/deployment.md):
// two nodes, each with its own log, in front of the same two influxd, a
// steady write load through HAProxy. A rolling restart (SIGTERM a node,
// start it again, then the other) must fail no client request, through a
// balancer in HTTP mode and through one in TCP mode that cannot retry
// anything; every acknowledged point must reach both backends.

// lbDelay is the nodes' shutdown-delay in these tests: the default.
const lbDelay = "5s"

// lbNodes starts two influxgate subprocesses in front of backends, with
// shutdown-delay = delay.
func lbNodes(t *testing.T, delay string, backends ...*testinflux.Server) [2]*procGate {
	t.Helper()
	var nodes [2]*procGate
	for i := range nodes {
		nodes[i] = newProcGate(t, func(dataDir, addr string) string {
			return nativeConfig(dataDir, addr, "shutdown-delay = \""+delay+"\"\n", "", backends...)
		})
	}
	return nodes
}

func TestRollingRestartBehindHAProxyHTTP(t *testing.T) {
	rollingRestart(t, func(n1, n2 string) *balancer { return startHAProxy(t, "haproxy-http.cfg", n1, n2) })
}

func TestRollingRestartBehindHAProxyTCP(t *testing.T) {
	rollingRestart(t, func(n1, n2 string) *balancer { return startHAProxy(t, "haproxy-tcp.cfg", n1, n2) })
}

// nginx has no active health check: it never sees /health 503, only
// connections that close after each response and, once a node has
// stopped, a refused connect, which it retries on the other node.
func TestRollingRestartBehindNginx(t *testing.T) {
	rollingRestart(t, func(n1, n2 string) *balancer { return startNginx(t, n1, n2) })
}

// rollingRestart runs the rolling restart behind the balancer start
// returns. INFLUXGATE_LB_DELAY overrides the nodes' shutdown-delay, to
// measure what happens without the lame-duck phase ("0s").
func rollingRestart(t *testing.T, start func(node1, node2 string) *balancer) {
	t.Parallel()
	delay := lbDelay
	if d := os.Getenv("INFLUXGATE_LB_DELAY"); d != "" {
		delay = d
	}
	x, y := twoBackends(t, "lb")
	nodes := lbNodes(t, delay, x, y)
	lb := start(nodes[0].addr(), nodes[1].addr())
	haproxy := lb.stats != ""
	if haproxy {
		lb.waitStatus("node1", "UP", 10*time.Second)
		lb.waitStatus("node2", "UP", 10*time.Second)
	}

	load := startWriteLoad(t, "http://"+lb.addr, "lb")
	time.Sleep(3 * time.Second)
	var steps []string
	for i, n := range nodes {
		name := fmt.Sprintf("node%d", i+1)
		t0 := time.Now()
		n.signal(syscall.SIGTERM)
		step := name
		if haproxy {
			down := lb.waitStatus(name, "DOWN", 30*time.Second)
			step += fmt.Sprintf(" out of the balancer after %s,", down.Round(100*time.Millisecond))
		}
		if code := n.waitExit(); code != 0 {
			t.Fatalf("%s exited %d after SIGTERM", name, code)
		}
		step += fmt.Sprintf(" exited after %s", time.Since(t0).Round(100*time.Millisecond))
		n.start() // same port, same data dir
		if haproxy {
			up := lb.waitStatus(name, "UP", 20*time.Second)
			step += fmt.Sprintf(", back in %s after its start", up.Round(100*time.Millisecond))
			time.Sleep(time.Second)
		} else {
			// nginx tries a node again fail_timeout (2s) after it refused a
			// connection.
			time.Sleep(3 * time.Second)
		}
		steps = append(steps, step)
	}
	time.Sleep(2 * time.Second)
	load.halt()

	for _, n := range nodes {
		n.asGate().waitCaughtUp(t, 30*time.Second)
	}
	lost := load.checkAcked(t, x, y)
	report(t, "shutdown-delay %s: %s; %d acknowledged points missing from a backend; %s",
		delay, load.summary(), lost, strings.Join(steps, "; "))
	if n := load.failed(); n > 0 {
		t.Errorf("%d client requests failed during the rolling restart: %s", n, load.summary())
	}
}

// A node killed with -9 while it holds a backlog for a backend that is
// down loses nothing: once it is back (same data dir), every point it
// acknowledged reaches both backends. Requests in flight at the kill may
// fail (the balancer cannot know whether a POST it sent was processed);
// none that was acknowledged may be lost.
func TestKillNodeWithBacklogBehindHAProxy(t *testing.T) {
	t.Parallel()
	x, y := twoBackends(t, "lb")
	nodes := lbNodes(t, lbDelay, x, y)
	lb := startHAProxy(t, "haproxy-http.cfg", nodes[0].addr(), nodes[1].addr())
	lb.waitStatus("node1", "UP", 10*time.Second)
	lb.waitStatus("node2", "UP", 10*time.Second)

	y.Stop(t)
	load := startWriteLoad(t, "http://"+lb.addr, "lb")
	time.Sleep(3 * time.Second)
	_, h := nodes[0].asGate().health(t)
	var backlog uint64
	for _, c := range h.Checks {
		backlog += c.BacklogRecs
	}
	if backlog == 0 {
		t.Fatalf("node1 holds no backlog for the stopped backend: %+v", h.Checks)
	}
	nodes[0].kill()
	down := lb.waitStatus("node1", "DOWN", 10*time.Second)
	time.Sleep(2 * time.Second)
	load.halt()

	y.Restart(t)
	nodes[0].start()
	for _, n := range nodes {
		n.asGate().waitCaughtUp(t, 60*time.Second)
	}
	lost := load.checkAcked(t, x, y)
	report(t, "node1 killed with %d records for a stopped backend, out of the balancer %s later: %s; %d acknowledged points missing from a backend after it returned",
		backlog, down.Round(100*time.Millisecond), load.summary(), lost)
}

// A reload that replaces a node's listener by one on another address
// fails no request either: the removed listener serves its lame-duck
// delay (/health 503, Connection: close) before it closes, so the balancer
// moves its clients to the other node while the new listener starts. TCP
// mode: nothing is retried.
func TestReloadReplacingListenerBehindHAProxyTCP(t *testing.T) {
	t.Parallel()
	x, y := twoBackends(t, "lb")
	newAddr := fmt.Sprintf("127.0.0.1:%d", testinflux.FreePort(t))
	var render func(name, addr string) string
	p := newProcGate(t, func(dataDir, addr string) string {
		render = func(name, addr string) string {
			c := nativeConfig(dataDir, addr, "shutdown-delay = \""+lbDelay+"\"\n", "", x, y)
			return strings.Replace(c, "name = \"http\"", "name = \""+name+"\"", 1)
		}
		return render("old", addr)
	})
	other := newProcGate(t, func(dataDir, addr string) string {
		return nativeConfig(dataDir, addr, "shutdown-delay = \""+lbDelay+"\"\n", "", x, y)
	})
	oldAddr := p.addr()
	lb := startHAProxy(t, "haproxy-tcp.cfg", oldAddr, other.addr())
	lb.waitStatus("node1", "UP", 10*time.Second)
	lb.waitStatus("node2", "UP", 10*time.Second)

	load := startWriteLoad(t, "http://"+lb.addr, "lb")
	time.Sleep(3 * time.Second)
	if err := os.WriteFile(p.cfgPath, []byte(render("new", newAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	p.signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the new listener", func() bool { return !notListening(newAddr) })
	up := time.Since(t0)
	down := lb.waitStatus("node1", "DOWN", 20*time.Second)
	for !notListening(oldAddr) {
		if time.Since(t0) > 30*time.Second {
			t.Fatal("the removed listener still accepts 30s after the reload")
		}
		time.Sleep(50 * time.Millisecond)
	}
	closed := time.Since(t0)
	time.Sleep(2 * time.Second)
	load.halt()

	g := p.asGate()
	g.url = "http://" + newAddr
	for _, g := range []*gate{g, other.asGate()} {
		g.waitCaughtUp(t, 30*time.Second)
	}
	lost := load.checkAcked(t, x, y)
	report(t, "%s; %d acknowledged points missing from a backend; after SIGHUP the new listener served within %s, the old one was out of the balancer after %s and closed after %s",
		load.summary(), lost, up.Round(100*time.Millisecond), down.Round(100*time.Millisecond), closed.Round(100*time.Millisecond))
	if n := load.failed(); n > 0 {
		t.Errorf("%d client requests failed during the reload: %s", n, load.summary())
	}
	if !strings.Contains(p.logText(), "listener removed by a reload") {
		t.Errorf("no log line for the removed listener")
	}
}
