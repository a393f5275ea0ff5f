package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/shard"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// rebalanceCluster is a sharded listener in front of replica sets of real
// influxd, with influxgate running as a process (procGate) on a fixed
// address whose config file the test rewrites to add or retire shards.
type rebalanceCluster struct {
	t        *testing.T
	shardKey string // "measurement" or "tag:K"
	db       string
	names    []string // shards in config order
	servers  map[string][]*testinflux.Server
	retired  map[string]bool
	gate     *procGate
	dataDir  string
	addr     string
	// extra is TOML appended to every node's config ([log-store]);
	// others are the nodes beyond the first (addNode).
	extra  string
	others []*clusterNode
	// store opens the placement and rebalance state (nil: the first
	// node's listener directory).
	store func() shard.Store
}

// clusterNode is one more influxgate in front of the same shards.
type clusterNode struct {
	gate          *procGate
	dataDir, addr string
}

// newRebalanceCluster starts two influxd per shard name (db created on
// the first n shards only: later ones are added empty) and influxgate
// with the first n shards configured.
func newRebalanceCluster(t *testing.T, shardKey, db string, names []string, n int) *rebalanceCluster {
	t.Helper()
	return newRebalanceClusterWith(t, shardKey, db, names, n, "")
}

// newRebalanceClusterWith is newRebalanceCluster with TOML appended to
// the config (extra).
func newRebalanceClusterWith(t *testing.T, shardKey, db string, names []string, n int, extra string) *rebalanceCluster {
	t.Helper()
	c := &rebalanceCluster{t: t, shardKey: shardKey, db: db, servers: map[string][]*testinflux.Server{}, retired: map[string]bool{},
		extra: extra}
	for i, name := range names {
		a := testinflux.Start(t, testinflux.Options{})
		b := testinflux.Start(t, testinflux.Options{})
		if i < n {
			a.CreateDatabase(t, db)
			b.CreateDatabase(t, db)
		}
		c.servers[name] = []*testinflux.Server{a, b}
	}
	c.names = names[:n]
	c.gate = newProcGate(t, func(dataDir, addr string) string {
		c.dataDir, c.addr = dataDir, addr
		return c.toml()
	})
	return c
}

// toml renders the first node's config of the shards configured now.
func (c *rebalanceCluster) toml() string { return c.tomlFor(c.dataDir, c.addr) }

// addNode starts one more influxgate with the cluster's config.
func (c *rebalanceCluster) addNode() *procGate {
	c.t.Helper()
	n := &clusterNode{}
	c.others = append(c.others, n)
	n.gate = newProcGate(c.t, func(dataDir, addr string) string {
		n.dataDir, n.addr = dataDir, addr
		return c.tomlFor(dataDir, addr)
	})
	return n.gate
}

// tomlFor renders a node's config of the shards configured now.
func (c *rebalanceCluster) tomlFor(dataDir, addr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "data-dir = %q\nwrite-timeout = \"5s\"\nshutdown-timeout = \"10s\"\n\n", dataDir)
	fmt.Fprintf(&b, "[[http]]\nname = \"http\"\nbind-addr = %q\nshard-key = %q\n", addr, c.shardKey)
	for _, name := range c.names {
		fmt.Fprintf(&b, "\n  [[http.shard]]\n  name = %q\n", name)
		if c.retired[name] {
			b.WriteString("  retire = true\n")
		}
		b.WriteString("  output = [\n")
		for i, s := range c.servers[name] {
			fmt.Fprintf(&b, "    { name = %q, location = %q, max-delay-interval = \"1s\", timeout = \"5s\" },\n",
				name+string(rune('a'+i)), s.WriteURL())
		}
		b.WriteString("  ]\n")
	}
	b.WriteString(c.extra)
	return b.String()
}

// configure rewrites the config file with the shards named (and those
// retired), without restarting influxgate.
func (c *rebalanceCluster) configure(names []string, retired ...string) {
	c.t.Helper()
	c.names = names
	c.retired = map[string]bool{}
	for _, r := range retired {
		c.retired[r] = true
	}
	if err := os.WriteFile(c.gate.cfgPath, []byte(c.toml()), 0o600); err != nil {
		c.t.Fatal(err)
	}
	for _, n := range c.others {
		if err := os.WriteFile(n.gate.cfgPath, []byte(c.tomlFor(n.dataDir, n.addr)), 0o600); err != nil {
			c.t.Fatal(err)
		}
	}
}

// restart stops influxgate with SIGTERM and starts it on the config file.
func (c *rebalanceCluster) restart() {
	c.t.Helper()
	if code := c.gate.terminate(); code != 0 {
		c.t.Fatalf("influxgate exited %d on SIGTERM", code)
	}
	c.gate.start()
}

// listenerDir is where the placement and rebalance state live.
func (c *rebalanceCluster) listenerDir() string { return filepath.Join(c.dataDir, "http") }

// owners are the shards that own keys under the config.
func (c *rebalanceCluster) owners() []string {
	var o []string
	for _, n := range c.names {
		if !c.retired[n] {
			o = append(o, n)
		}
	}
	return o
}

// ownerOf returns the owner of a point (canonical line) under owners.
func (c *rebalanceCluster) ownerOf(owners []string, point string) string {
	m, tags := lineproto.Key([]byte(point))
	var v []byte
	byTag := strings.HasPrefix(c.shardKey, "tag:")
	if byTag {
		v, _ = lineproto.TagValue(tags, []byte(strings.TrimPrefix(c.shardKey, "tag:")))
	}
	return shard.NewPlacement(owners).Owner(shard.AppendKey(nil, c.db, lineproto.UnescapeMeasurement(m), v, byTag))
}

// rebalance runs `influxgate rebalance` on the config file and returns
// its exit status and output.
func (c *rebalanceCluster) rebalance(args ...string) (int, string) {
	c.t.Helper()
	cmd := exec.Command(influxgateBin, append([]string{"rebalance", "-config", c.gate.cfgPath}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if err != nil {
		code = cmd.ProcessState.ExitCode()
	}
	c.t.Logf("influxgate rebalance %s -> %d:\n%s", strings.Join(args, " "), code, out.String())
	return code, out.String()
}

// startRebalance runs `influxgate rebalance` in the background; wait
// returns its exit status and output.
func (c *rebalanceCluster) startRebalance(args ...string) (cmd *exec.Cmd, wait func() (int, string)) {
	c.t.Helper()
	cmd = exec.Command(influxgateBin, append([]string{"rebalance", "-config", c.gate.cfgPath}, args...)...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	c.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return cmd, func() (int, string) {
		select {
		case <-done:
		case <-time.After(4 * time.Minute):
			c.t.Fatalf("influxgate rebalance did not finish within 4 minutes:\n%s", clip(out.String()))
		}
		code := cmd.ProcessState.ExitCode()
		c.t.Logf("influxgate rebalance %s -> %d:\n%s", strings.Join(cmd.Args[4:], " "), code, out.String())
		return code, out.String()
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// movedKeys counts the done and cleared lines of rebalance/keys.
func (c *rebalanceCluster) movedKeys() (done, cleared int) {
	b, _ := os.ReadFile(filepath.Join(c.listenerDir(), "rebalance", "keys"))
	return bytes.Count(b, []byte(`{"done":`)), bytes.Count(b, []byte(`{"cleared":`))
}

// checkInPlace waits until influxgate has delivered everything, then
// checks that the rebalance is over (state files, /health) and that every
// point acknowledged is on exactly its owner's replicas, identical on
// both, with its last acknowledged value, and nothing else is anywhere.
func (c *rebalanceCluster) checkInPlace(want map[string]string) {
	t := c.t
	t.Helper()
	g := c.gate.asGate()
	g.waitCaughtUp(t, 60*time.Second)
	owners := c.owners()
	st := shard.Dir(c.listenerDir())
	if c.store != nil {
		st = c.store()
	}
	placed, ok, err := st.Placement()
	if err != nil || !ok || !slices.Equal(placed, owners) {
		t.Errorf("placement %v %v %v, want %v", placed, ok, err, owners)
	}
	if m, err := st.Move(); m != nil || err != nil {
		t.Errorf("rebalance state still there: %+v %v", m, err)
	}
	if c.store == nil {
		if _, err := os.Stat(filepath.Join(c.listenerDir(), "rebalance")); !os.IsNotExist(err) {
			t.Errorf("rebalance directory still there: %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, h := g.health(t)
		if status == http.StatusOK && !strings.Contains(h.Message, "rebalance") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("/health still reports a rebalance: %d %q", status, h.Message)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	seen := map[string]string{} // point key -> shard
	total := 0
	for _, name := range c.names {
		got := identical(t, c.db, c.servers[name]...)
		for _, p := range got {
			if o := c.ownerOf(owners, p); o != name {
				t.Errorf("point %q on shard %s, owner %s", p, name, o)
			}
			k := pointKey(p)
			if s, dup := seen[k]; dup {
				t.Errorf("point %q on shards %s and %s", p, s, name)
			}
			seen[k] = name
			if w, ok := want[k]; !ok {
				t.Errorf("point %q on shard %s was never written", p, name)
			} else if w != p {
				t.Errorf("point on shard %s is %q, last written as %q", name, p, w)
			}
		}
		total += len(got)
	}
	for k, p := range want {
		if _, ok := seen[k]; !ok {
			t.Errorf("point %q was acknowledged and is on no shard", p)
		}
	}
	t.Logf("%d points on shards %v, %d acknowledged", total, c.names, len(want))
}

// pointKey is a point's series and time: what an overwrite keeps.
func pointKey(p string) string {
	key, rest, _ := strings.Cut(p, " ")
	return key + " " + rest[strings.LastIndexByte(rest, ' ')+1:]
}

// loadWriter writes through influxgate in the background: batches of
// lines made by gen, each retried until influxgate answers 204 (while it
// restarts, say), so that every batch ends acknowledged; want is every
// point's last acknowledged line, by series and time.
type loadWriter struct {
	t    *testing.T
	url  string
	gen  func(batch int) []string
	stop chan struct{}
	done chan struct{}
	// params are the write's query parameters ("db=db" by default).
	params string
	// quiet is held for each batch from its first attempt to its
	// bookkeeping: a reader that holds it sees want match what was
	// acknowledged, with no write in flight.
	quiet sync.Mutex

	mu      sync.Mutex
	want    map[string]string
	batches int
	retries int
}

func startLoad(t *testing.T, url string, want map[string]string, gen func(batch int) []string) *loadWriter {
	return startLoadParams(t, url, "db=db", want, gen)
}

// startLoadParams is startLoad with the write's query parameters.
func startLoadParams(t *testing.T, url, params string, want map[string]string, gen func(batch int) []string) *loadWriter {
	w := &loadWriter{t: t, url: url, gen: gen, want: want, params: params, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	t.Cleanup(w.finish)
	return w
}

func (w *loadWriter) run() {
	defer close(w.done)
	client := &http.Client{Timeout: 10 * time.Second}
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return
		case <-time.After(40 * time.Millisecond):
		}
		w.quiet.Lock()
		lines := w.gen(i)
		body := strings.Join(lines, "\n")
		for attempt := 0; ; attempt++ {
			resp, err := client.Post(w.url+"/write?"+w.params, "text/plain", strings.NewReader(body))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					break
				}
			}
			if attempt > 1500 { // a minute
				w.t.Errorf("write batch %d never acknowledged: %v", i, err)
				w.quiet.Unlock()
				return
			}
			w.mu.Lock()
			w.retries++
			w.mu.Unlock()
			time.Sleep(40 * time.Millisecond)
		}
		w.mu.Lock()
		for _, l := range lines {
			w.want[pointKey(l)] = l
		}
		w.batches++
		w.mu.Unlock()
		w.quiet.Unlock()
	}
}

// readChecker queries influxgate in the background while the load runs
// (and a rebalance moves keys), and checks each answer exactly: with the
// load paused for the query and written with consistency=all, every
// acknowledged point is on every replica of the shards it went to, so the
// count of each series must equal what was acknowledged — a point missed
// or counted twice (a moving key read from two shards) fails the test.
type readChecker struct {
	t     *testing.T
	url   string
	load  *loadWriter
	query string
	want  func(acked map[string]string) map[string]int
	stop  chan struct{}
	done  chan struct{}

	mu               sync.Mutex
	checked, skipped int
	lastSkip         error
}

// startReadChecker checks query, whose answer maps series (name and
// tags) to a count, against want of the acknowledged points.
func startReadChecker(t *testing.T, url string, load *loadWriter, query string, want func(map[string]string) map[string]int) *readChecker {
	c := &readChecker{t: t, url: url, load: load, query: query, want: want, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	t.Cleanup(c.finish)
	return c
}

func (c *readChecker) run() {
	defer close(c.done)
	client := &http.Client{Timeout: 10 * time.Second}
	for {
		select {
		case <-c.stop:
			return
		case <-time.After(150 * time.Millisecond):
		}
		c.load.quiet.Lock()
		c.load.mu.Lock()
		want := c.want(c.load.want)
		c.load.mu.Unlock()
		got, err := countSeries(client, c.url, c.query)
		c.load.quiet.Unlock()
		c.mu.Lock()
		if err != nil {
			c.skipped++ // influxgate restarting, a backend replaying
			c.lastSkip = err
			c.mu.Unlock()
			continue
		}
		c.checked++
		c.mu.Unlock()
		for k, n := range want {
			if got[k] != n {
				c.t.Errorf("during the rebalance, %s answered %d points for %s, want %d acknowledged", c.query, got[k], k, n)
			}
		}
		for k, n := range got {
			if _, ok := want[k]; !ok {
				c.t.Errorf("during the rebalance, %s answered %d points for %s, which holds none", c.query, n, k)
			}
		}
	}
}

// finish stops the checker and requires that it checked something.
func (c *readChecker) finish() {
	select {
	case <-c.stop:
		return
	default:
		close(c.stop)
	}
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t.Logf("reads: %d answers checked exact, %d not answered (restarts; the last: %v)", c.checked, c.skipped, c.lastSkip)
	if c.checked < 5 {
		c.t.Errorf("only %d reads were checked during the rebalance", c.checked)
	}
}

// countSeries runs a query of counts and returns count by series (the
// series name, then its tags as k=v, sorted).
func countSeries(client *http.Client, url, q string) (map[string]int, error) {
	resp, err := client.Get(url + "/query?db=db&epoch=ns&q=" + neturl.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("%s: %s", resp.Status, b)
	}
	var r struct {
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Name   string            `json:"name"`
				Tags   map[string]string `json:"tags"`
				Values [][]json.Number   `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, res := range r.Results {
		if res.Error != "" {
			return nil, errors.New(res.Error)
		}
		for _, s := range res.Series {
			k := s.Name
			var tags []string
			for tk, tv := range s.Tags {
				tags = append(tags, tk+"="+tv)
			}
			slices.Sort(tags)
			if len(tags) > 0 {
				k += "," + strings.Join(tags, ",")
			}
			for _, v := range s.Values {
				n, err := v[1].Int64()
				if err != nil {
					return nil, err
				}
				out[k] += int(n)
			}
		}
	}
	return out, nil
}

// finish stops the writer after its batch in flight is acknowledged.
func (w *loadWriter) finish() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	w.mu.Lock()
	w.t.Logf("load: %d batches acknowledged, %d attempts retried", w.batches, w.retries)
	w.mu.Unlock()
}

// runOutput runs a command that is expected to exit by itself within 30s
// and returns its output.
func runOutput(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}
