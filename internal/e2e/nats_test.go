package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
	"github.com/influxgate/influxgate/internal/testnats"
)

// The tests of [log-store] engine = "nats" (issue 18): two influxgate
// nodes (subprocesses, so that they can be kill -9'd and their disks
// deleted) sharing a log in a real three-server NATS JetStream cluster, in
// front of two real influxd.

// natsStoreTOML is the [log-store] table of a node of cluster nc.
func natsStoreTOML(nc *testnats.Cluster) string {
	var urls []string
	for _, u := range nc.URLs() {
		urls = append(urls, fmt.Sprintf("%q", u))
	}
	return fmt.Sprintf("[log-store]\nengine = \"nats\"\nurls = [%s]\nstream-replicas = %d\nlease-ttl = \"2s\"\n",
		strings.Join(urls, ", "), min(3, len(nc.Servers)))
}

// newNATSNode starts an influxgate node on nc in front of backends, with
// extra per-output TOML.
func newNATSNode(t *testing.T, nc *testnats.Cluster, outputExtra string, backends ...*testinflux.Server) *procGate {
	t.Helper()
	return newProcGate(t, func(dataDir, addr string) string {
		return nativeConfig(dataDir, addr, natsStoreTOML(nc), outputExtra, backends...)
	})
}

// destroy kills the node with SIGKILL and deletes its data dir: the node
// and its disk are gone.
func (p *procGate) destroy(t testing.TB) {
	t.Helper()
	p.kill()
	if err := os.RemoveAll(filepath.Join(p.dir, "data")); err != nil {
		t.Fatal(err)
	}
}

type natsCheck struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	Backlog   uint64 `json:"backlog_records"`
	Deliverer string `json:"deliverer"`
	Standby   bool   `json:"standby"`
	Message   string `json:"message"`
}

// natsChecks returns the node's /health checks.
func natsChecks(t testing.TB, p *procGate) []natsCheck {
	t.Helper()
	r := do(t, http.MethodGet, p.url+"/health", "")
	var h struct {
		Checks []natsCheck `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.Body), &h); err != nil {
		t.Fatalf("/health: %v: %s", err, r.Body)
	}
	return h.Checks
}

// delivererOf returns the node among nodes that delivers to backend name.
func delivererOf(t testing.TB, name string, nodes ...*procGate) *procGate {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var found []*procGate
		for _, p := range nodes {
			for _, c := range natsChecks(t, p) {
				if c.Name == name && !c.Standby && c.Deliverer != "" {
					found = append(found, p)
				}
			}
		}
		if len(found) == 1 {
			return found[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no single node delivers to %s", name)
	return nil
}

// writeSeq writes points seq [from, to) of measurement m, ten per request,
// through the nodes in turn, and fails on any answer but 204.
func writeSeq(t testing.TB, m string, from, to int, nodes ...*procGate) {
	t.Helper()
	for i, k := from, 0; i < to; k++ {
		var b strings.Builder
		for j := 0; j < 10 && i < to; j, i = j+1, i+1 {
			fmt.Fprintf(&b, "%s v=%di %d\n", m, i, int64(1_700_000_000_000_000_000)+int64(i))
		}
		g := nodes[k%len(nodes)].asGate()
		g.mustWrite(t, "db=db", b.String())
	}
}

// TestNATSNodeDestroyedWithBackendDown is issue 18's (a): with backend b
// down, the node that delivers to b is killed and its data dir deleted;
// every acknowledged point still reaches both backends.
func TestNATSNodeDestroyedWithBackendDown(t *testing.T) {
	t.Parallel()
	nc := testnats.Start(t, testnats.Options{Servers: 3})
	a, b := twoBackends(t, "db")
	n1 := newNATSNode(t, nc, "", a, b)
	n2 := newNATSNode(t, nc, "", a, b)
	writeSeq(t, "m", 0, 200, n1, n2)
	a.WaitCount(t, "db", "m", 200, 30*time.Second)
	b.WaitCount(t, "db", "m", 200, 30*time.Second)

	b.Stop(t)
	writeSeq(t, "m", 200, 1200, n1, n2)
	victim, survivor := delivererOf(t, "b", n1, n2), n1
	if survivor == victim {
		survivor = n2
	}
	victim.destroy(t)
	t.Log("destroyed the node delivering to b, disk and all, with b down and a backlog for it")
	writeSeq(t, "m", 1200, 1500, survivor)
	b.Restart(t)
	a.WaitCount(t, "db", "m", 1500, time.Minute)
	b.WaitCount(t, "db", "m", 1500, time.Minute)
	identical(t, "db", a, b)
	if got := delivererOf(t, "b", survivor); got != survivor {
		t.Fatal("the survivor does not deliver to b")
	}

	// The destroyed node comes back with an empty disk and works at once.
	victim.start()
	writeSeq(t, "m", 1500, 1600, victim, survivor)
	a.WaitCount(t, "db", "m", 1600, 30*time.Second)
	b.WaitCount(t, "db", "m", 1600, 30*time.Second)
	identical(t, "db", a, b)
}
