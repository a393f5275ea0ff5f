package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/shard"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// shardedCluster is a sharded listener in front of replica sets of real
// influxd: shards[i] are the backends of shard s<i+1>.
type shardedCluster struct {
	cfg    *config.Config
	shards [][]*testinflux.Server
}

// newShardedConfig starts n shards of two influxd 1.6.7 each, with db
// created on all, and returns a config for them.
func newShardedConfig(t *testing.T, shardKey string, n int, db string) *shardedCluster {
	t.Helper()
	c := &shardedCluster{}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.WriteTimeout = 5 * time.Second
	cfg.ShutdownTimeout = 10 * time.Second
	h := config.HTTPConfig{Name: "http", BindAddr: "127.0.0.1:0", ShardKey: shardKey}
	for i := 0; i < n; i++ {
		a, b := twoBackends(t, db)
		c.shards = append(c.shards, []*testinflux.Server{a, b})
		name := fmt.Sprintf("s%d", i+1)
		h.Shards = append(h.Shards, config.ShardConfig{Name: name, Outputs: []config.OutputConfig{
			output(name+"a", a.WriteURL()), output(name+"b", b.WriteURL())}})
	}
	cfg.HTTP = []config.HTTPConfig{h}
	cfg.ApplyDefaults()
	c.cfg = &cfg
	return c
}

// owner returns the index of the shard that owns a key under cfg.
func (c *shardedCluster) owner(db, measurement, tagValue string) int {
	var names []string
	for _, s := range c.cfg.HTTP[0].Shards {
		if !s.Retire {
			names = append(names, s.Name)
		}
	}
	key := shard.AppendKey(nil, db, []byte(measurement), []byte(tagValue), c.cfg.HTTP[0].ShardTag() != "")
	o := shard.NewPlacement(names).Owner(key)
	for i, s := range c.cfg.HTTP[0].Shards {
		if s.Name == o {
			return i
		}
	}
	return -1
}

// Writes of hundreds of measurements: each measurement lands on exactly
// one shard, whole, on both of its replicas; the spread is within reason.
func TestShardedWritesByMeasurement(t *testing.T) {
	t.Parallel()
	c := newShardedConfig(t, "measurement", 2, "db")
	g := startGate(t, c.cfg)
	const measurements, perM = 200, 5
	var body strings.Builder
	for p := 0; p < perM; p++ {
		for m := 0; m < measurements; m++ {
			fmt.Fprintf(&body, "m%03d,host=h%d v=%d %d\n", m, p, m*10+p, 1700000000000000000+int64(p))
		}
	}
	g.mustWrite(t, "db=db", body.String())
	g.waitCaughtUp(t, 30*time.Second)
	counts := make([]int, len(c.shards))
	for i, rs := range c.shards {
		got := identical(t, "db", rs...)
		seen := map[string]int{}
		for _, p := range got {
			m, _, _ := strings.Cut(p, ",")
			seen[m]++
		}
		for m, n := range seen {
			if o := c.owner("db", m, ""); o != i {
				t.Errorf("measurement %s on shard %d, owner %d", m, i+1, o+1)
			}
			if n != perM {
				t.Errorf("measurement %s has %d of its %d points on shard %d", m, n, perM, i+1)
			}
		}
		counts[i] = len(seen)
	}
	if counts[0]+counts[1] != measurements {
		t.Fatalf("shards hold %v measurements, want %d in all", counts, measurements)
	}
	if counts[0] < measurements/4 || counts[1] < measurements/4 {
		t.Errorf("spread %v is far from even", counts)
	}
}

// With tag sharding each (measurement, tag value) lands on one shard; the
// lines without the tag too. A write with a bad line is a partial write,
// as InfluxDB answers it, and its good lines stay written.
func TestShardedWritesByTagAndPartialWrites(t *testing.T) {
	t.Parallel()
	c := newShardedConfig(t, "tag:customer", 2, "db")
	g := startGate(t, c.cfg)
	var body strings.Builder
	for i := 0; i < 100; i++ {
		l := fmt.Sprintf("orders,customer=c%02d,region=eu v=%di %d", i%40, i, 1700000000000000000+int64(i))
		if i%25 == 0 {
			l = fmt.Sprintf("orders,region=eu v=%di %d", i, 1700000000000000000+int64(i))
		}
		body.WriteString(l + "\n")
	}
	g.mustWrite(t, "db=db", body.String())
	r := g.write(t, "db=db", "orders,customer=c01 v=1i 1\norders,customer=c02 v= 2\n")
	if r.Status != http.StatusBadRequest || !strings.HasPrefix(r.errText(), "partial write: unable to parse 'orders,customer=c02 v= 2'") {
		t.Errorf("write with a bad line: %d %q; want a partial write naming the line", r.Status, r.errText())
	}
	g.waitCaughtUp(t, 30*time.Second)
	total := 0
	for i, rs := range c.shards {
		got := identical(t, "db", rs...)
		for _, p := range got {
			tag := ""
			if _, after, ok := strings.Cut(p, "customer="); ok {
				tag = after[:strings.IndexAny(after+" ", ", ")]
			}
			if o := c.owner("db", "orders", tag); o != i {
				t.Errorf("point %q on shard %d, owner %d", p, i+1, o+1)
			}
		}
		total += len(got)
	}
	if total != 101 {
		t.Errorf("shards hold %d points, want the 100 written and the good line of the partial write", total)
	}
}

// One replica of a shard down and back: writes keep being acknowledged,
// reads go to the replica that is up, and once it is back the replicas of
// every shard are identical and every point is counted once.
func TestShardedReplicaDownAndBack(t *testing.T) {
	t.Parallel()
	c := newShardedConfig(t, "measurement", 2, "db")
	g := startGate(t, c.cfg)
	write := func(from, to int) {
		var body strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&body, "m%02d,host=h v=%d %d\n", i%40, i, 1700000000000000000+int64(i))
		}
		g.mustWrite(t, "db=db", body.String())
	}
	write(0, 400)
	g.waitCaughtUp(t, 30*time.Second)
	down := c.shards[0][1]
	down.Stop(t)
	write(400, 800)
	// Reads of every shard still answer exactly, from the replica that is
	// up (the one that is down is not caught up).
	counts, err := countSeries(http.DefaultClient, g.url, "SELECT count(v) FROM /.*/")
	if err != nil {
		t.Fatalf("query with a replica down: %v", err)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if len(counts) != 40 || total != 800 {
		t.Errorf("with a replica down, counts of %d measurements add up to %d; want 40 and 800", len(counts), total)
	}
	down.Restart(t)
	g.waitCaughtUp(t, 30*time.Second)
	sum := 0
	for _, rs := range c.shards {
		sum += len(identical(t, "db", rs...))
	}
	if sum != 800 {
		t.Errorf("the shards hold %d points, want 800", sum)
	}
}
