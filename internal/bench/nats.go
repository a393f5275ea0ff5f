package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The nats scenarios run influxgate with its log in NATS JetStream
// ([log-store] engine = "nats") on one nats-server or on a cluster of
// three on loopback, beside the same load on the local log, to show what
// replicating the log costs (docs/performance.md).

// NATSServerBinary finds nats-server as internal/testnats does: $NATS_SERVER,
// the release `make nats-server` builds into the cache, or Debian's.
func NATSServerBinary() (string, error) {
	if p := os.Getenv("NATS_SERVER"); p != "" {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		matches, _ := filepath.Glob(filepath.Join(home, ".cache", "influxgate", "nats-server-*", "nats-server"))
		if len(matches) > 0 {
			return matches[len(matches)-1], nil
		}
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server", nil
	}
	return "", errors.New("nats-server not found: run make nats-server, or set NATS_SERVER")
}

// natsCluster is the servers of one run.
type natsCluster struct {
	procs []*Process
	urls  []string
}

// natsAddr picks a loopback address for a server's port; tests replace it.
var natsAddr = freeAddr

// startNATS starts n servers (a cluster when n > 1) with their stores
// under dir; syncAlways makes each fsync before it acknowledges. It
// returns the [log-store] table influxgate needs.
//
// A port found free can be taken before the server binds it: the load
// generator and the relays open thousands of connections, each on an
// ephemeral port. A server that exits with "address already in use"
// makes the whole cluster start again on new ports (at most three times,
// each in a directory of its own), as startRetrying does for one process.
func startNATS(dir string, n int, syncAlways bool) (*natsCluster, string, error) {
	bin, err := NATSServerBinary()
	if err != nil {
		return nil, "", err
	}
	for try := 1; try <= 3; try++ {
		tryDir := dir
		if try > 1 {
			tryDir = filepath.Join(dir, fmt.Sprintf("nats-try-%d", try))
			if err := os.MkdirAll(tryDir, 0o755); err != nil {
				return nil, "", err
			}
		}
		var c *natsCluster
		var store string
		if c, store, err = startNATSOnce(bin, tryDir, n, syncAlways); err == nil {
			return c, store, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, "", err
}

// startNATSOnce is one attempt of startNATS, on ports picked now.
func startNATSOnce(bin, dir string, n int, syncAlways bool) (*natsCluster, string, error) {
	type ports struct{ client, cluster, monitor string }
	var ps []ports
	var err error
	for range n {
		var p ports
		for _, dst := range []*string{&p.client, &p.cluster, &p.monitor} {
			if *dst, err = natsAddr(); err != nil {
				return nil, "", err
			}
		}
		ps = append(ps, p)
	}
	c := &natsCluster{}
	for i, p := range ps {
		var b strings.Builder
		fmt.Fprintf(&b, "server_name: b%d\nlisten: %s\nhttp: %s\nmax_payload: 8MB\n", i+1, p.client, p.monitor)
		fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n", filepath.Join(dir, fmt.Sprintf("nats-%d", i+1)))
		if syncAlways {
			b.WriteString("  sync_interval: always\n")
		}
		b.WriteString("}\n")
		if n > 1 {
			fmt.Fprintf(&b, "cluster {\n  name: bench\n  listen: %s\n  routes: [\n", p.cluster)
			for j, o := range ps {
				if j != i {
					fmt.Fprintf(&b, "    nats-route://%s\n", o.cluster)
				}
			}
			b.WriteString("  ]\n}\n")
		}
		conf := filepath.Join(dir, fmt.Sprintf("nats-%d.conf", i+1))
		if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
			c.stop()
			return nil, "", err
		}
		proc, err := StartProcess(ProcSpec{Name: fmt.Sprintf("nats-%d", i+1), Path: bin, Args: []string{"-c", conf},
			Log: filepath.Join(dir, fmt.Sprintf("nats-%d.log", i+1))})
		if err != nil {
			c.stop()
			return nil, "", err
		}
		c.procs = append(c.procs, proc)
		c.urls = append(c.urls, strconv.Quote("nats://"+p.client))
	}
	for i, p := range ps {
		// /healthz answers 200 once JetStream is up (and, in a cluster, has
		// its meta leader); influxgate's start then creates the stream.
		if err := c.procs[i].WaitHTTP("http://"+p.monitor+"/healthz", 60*time.Second); err != nil {
			c.stop()
			return nil, "", err
		}
	}
	store := fmt.Sprintf("\n[log-store]\nengine = \"nats\"\nurls = [%s]\nstream-replicas = %d\n",
		strings.Join(c.urls, ", "), n)
	return c, store, nil
}

func (c *natsCluster) stop() {
	for _, p := range c.procs {
		p.Stop(10 * time.Second)
	}
}
