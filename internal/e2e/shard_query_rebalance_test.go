package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/shard"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// Queries during a rebalance from shards s1, s2 to s1, s2, s3: keys whose
// owner changes are held by two shards (the dual writes of a key not yet
// moved, the old copy of a key moved but not yet deleted there). Every
// answer must count each point once, as the oracle does.

// keyState is how far a moving key is.
type keyState int

const (
	notMoved keyState = iota // read from its old owner; the new one has copies
	moved                    // read from its new owner; the old one still has it
	cleared                  // only on its new owner
)

// movingCluster starts 3 shards with a rebalance from {s1, s2} in
// progress, the keys that move (among keys) put in turn in each state,
// and returns the oracle cluster and each moving key's state.
func movingCluster(t *testing.T, shardKey string, keys []string, key func(k string) []byte) (*oracleCluster, map[string]keyState) {
	t.Helper()
	c := newShardedConfig(t, shardKey, 3, "db")
	store := shard.Dir(c.cfg.ListenerDir("http"))
	from, to := []string{"s1", "s2"}, []string{"s1", "s2", "s3"}
	if err := store.SetPlacement(from); err != nil {
		t.Fatal(err)
	}
	if _, err := store.StartMove(shard.NewMove(from, to)); err != nil {
		t.Fatal(err)
	}
	pf, pt := shard.NewPlacement(from), shard.NewPlacement(to)
	states := map[string]keyState{}
	n := 0
	for _, k := range keys {
		kb := key(k)
		if pf.Owner(kb) == pt.Owner(kb) {
			continue
		}
		st := keyState(n % 3)
		n++
		states[k] = st
		if st >= moved {
			if err := store.AddKey(shard.KeyEvent{Done: string(kb)}); err != nil {
				t.Fatal(err)
			}
		}
		if st == cleared {
			if err := store.AddKey(shard.KeyEvent{Cleared: string(kb)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n < 3 {
		t.Fatalf("only %d keys move; want every state", n)
	}
	o := &oracleCluster{shardedCluster: c, oracle: testinflux.Start(t, testinflux.Options{})}
	o.oracle.CreateDatabase(t, "db")
	o.g = startGate(t, c.cfg)
	return o, states
}

// strayCopies writes lines directly to the backends of a shard: the copy
// a moved key keeps on its old owner until it is deleted there.
func (o *oracleCluster) strayCopies(t *testing.T, shardIdx int, lines []string) {
	t.Helper()
	if len(lines) == 0 {
		return
	}
	for _, s := range o.shards[shardIdx] {
		s.Write(t, "db", "", strings.Join(lines, "\n")+"\n")
	}
}

func shardIndex(name string) int { return int(name[1] - '1') }

func TestShardedQueriesDuringARebalanceByMeasurement(t *testing.T) {
	t.Parallel()
	var ms []string
	for i := 0; i < 15; i++ {
		ms = append(ms, fmt.Sprintf("m%02d", i))
	}
	o, states := movingCluster(t, "measurement", ms, func(m string) []byte { return shard.AppendKey(nil, "db", []byte(m), nil, false) })
	from := shard.NewPlacement([]string{"s1", "s2"})
	var body strings.Builder
	stray := map[int][]string{}
	for i := 0; i < 300; i++ {
		m := ms[i%len(ms)]
		line := fmt.Sprintf("%s,host=h%d v=%d,f=%g %d", m, i%4, i, float64(i)/7, ns(time.Duration(i)*time.Minute))
		body.WriteString(line + "\n")
		if states[m] == moved {
			old := shardIndex(from.Owner(shard.AppendKey(nil, "db", []byte(m), nil, false)))
			stray[old] = append(stray[old], line)
		}
	}
	o.write(t, body.String())
	for i, lines := range stray {
		o.strayCopies(t, i, lines)
	}
	r := rangeClause(0, 6*time.Hour)
	o.checkAll(t, []oracleCase{
		{q: "SELECT count(v), sum(v), mean(f) FROM /.*/"},
		{q: "SELECT count(v) FROM /.*/ GROUP BY *"},
		{q: "SELECT * FROM /.*/ WHERE " + r},
		{q: "SELECT v FROM m00, m01, m02, m03, m04, m05 ORDER BY time DESC LIMIT 3"},
		{q: "SELECT max(v), host FROM /.*/"},
		{q: "SELECT sum(v) FROM /.*/ WHERE " + r + " GROUP BY time(1h), host"},
		{q: "SHOW MEASUREMENTS"},
		{q: "SHOW SERIES"},
		{q: "SHOW TAG VALUES WITH KEY = host LIMIT 2"},
		{q: "SHOW FIELD KEYS"},
		{q: "SHOW SERIES EXACT CARDINALITY"},
		{q: "SHOW TAG KEY CARDINALITY"},
		{q: "SHOW MEASUREMENT CARDINALITY", refused: "rebalance"},
	}, 10)
	// Each key is read from the shard that serves it.
	for m := range states {
		o.check(t, oracleCase{q: fmt.Sprintf("SELECT count(v), sum(v) FROM %s", m), single: true})
	}
}

func TestShardedQueriesDuringARebalanceByTag(t *testing.T) {
	t.Parallel()
	var customers []string
	for i := 0; i < 30; i++ {
		customers = append(customers, fmt.Sprintf("c%02d", i))
	}
	keyOf := func(m, c string) []byte { return shard.AppendKey(nil, "db", []byte(m), []byte(c), true) }
	o, states := movingCluster(t, "tag:customer", customers, func(c string) []byte { return keyOf("orders", c) })
	from := shard.NewPlacement([]string{"s1", "s2"})
	var body strings.Builder
	stray := map[int][]string{}
	for i := 0; i < 600; i++ {
		c := customers[i%len(customers)]
		line := fmt.Sprintf("orders,customer=%s,region=r%d amount=%g,qty=%di %d", c, i%3, float64(i)*0.37+1.01, i%11, ns(time.Duration(i)*time.Minute))
		body.WriteString(line + "\n")
		if states[c] == moved {
			old := shardIndex(from.Owner(keyOf("orders", c)))
			stray[old] = append(stray[old], line)
		}
	}
	o.write(t, body.String())
	for i, lines := range stray {
		o.strayCopies(t, i, lines)
	}
	r := rangeClause(0, 10*time.Hour)
	cases := []oracleCase{
		{q: "SELECT count(amount), sum(qty), min(amount), max(amount), mean(amount) FROM orders"},
		{q: "SELECT count(amount), mean(qty) FROM orders WHERE " + r + " GROUP BY time(1h), region"},
		{q: "SELECT * FROM orders WHERE " + r},
		{q: "SELECT amount FROM orders ORDER BY time DESC LIMIT 5 OFFSET 2"},
		{q: "SELECT max(amount), customer FROM orders"},
		{q: "SELECT sum(qty) FROM orders GROUP BY customer"},
		{q: "SELECT percentile(amount, 50) FROM orders GROUP BY *"},
		{q: "SHOW TAG VALUES WITH KEY = customer"},
		{q: "SHOW SERIES"},
		{q: "SHOW SERIES CARDINALITY", refused: "rebalance"},
	}
	for c := range states {
		cases = append(cases, oracleCase{q: fmt.Sprintf("SELECT count(amount), sum(qty) FROM orders WHERE customer = '%s'", c), single: true})
	}
	o.checkAll(t, cases, 7)
}
