package query

import (
	"fmt"
	"math/bits"
	"strings"
	"testing"

	"github.com/influxdata/influxql"

	"github.com/influxgate/influxgate/internal/shard"
)

func testSet(t testing.TB, key string, route *shard.Route) *shard.Set {
	t.Helper()
	if route == nil {
		route = shard.NewRoute(shard.NewPlacement([]string{"s1", "s2"}))
	}
	set, err := shard.NewSet(key, []*shard.Shard{{Name: "s1"}, {Name: "s2"}}, route)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// twoOn returns two names from candidates whose keys (db "db", built by
// key) are owned by different shards of set.
func twoOn(t testing.TB, set *shard.Set, key func(string) []byte) (a, b string) {
	t.Helper()
	owner := func(n string) string { return set.Route().ReadOwner(key(n)) }
	for i := 0; i < 100; i++ {
		n := fmt.Sprintf("m%d", i)
		switch {
		case a == "":
			a = n
		case owner(n) != owner(a):
			return a, n
		}
	}
	t.Fatal("no two names on different shards")
	return "", ""
}

func planOne(t *testing.T, p *planner, q string) (*stmtPlan, error) {
	t.Helper()
	parsed, err := influxql.ParseQuery(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return p.plan(parsed.Statements[0])
}

func TestPlanByMeasurement(t *testing.T) {
	set := testSet(t, "measurement", nil)
	a, b := twoOn(t, set, func(n string) []byte { return set.Key("db", n, "") })
	p := newPlanner(set, "db")
	type want struct {
		kind    planKind
		shards  int // how many
		mode    mergeMode
		send    string // a text the statement sent holds
		refused string
	}
	for _, c := range []struct {
		q string
		w want
	}{
		{"SELECT * FROM " + a, want{kind: planRead, shards: 1}},
		{"SELECT v FROM " + a + " WHERE host = 'x' GROUP BY time(1m)", want{kind: planRead, shards: 1}},
		{fmt.Sprintf("SELECT * FROM %s, %s", a, b), want{kind: planRead, shards: 2, mode: mergeSeries}},
		{fmt.Sprintf("SELECT percentile(v, 9) FROM %s, %s GROUP BY host SLIMIT 2", a, b), want{kind: planRead, shards: 2, mode: mergeSeries, send: "SLIMIT 2"}},
		{"SELECT * FROM /x/", want{kind: planRead, shards: 2, mode: mergeSeries}},
		{fmt.Sprintf("SELECT mean(v) FROM (SELECT v FROM %s, %s)", a, b), want{refused: "query one measurement at a time"}},
		{fmt.Sprintf("SELECT mean(v) FROM (SELECT v FROM %s)", a), want{kind: planRead, shards: 1}},
		{"SHOW DATABASES", want{kind: planAny}},
		{"SHOW DIAGNOSTICS", want{kind: planAny}},
		{"SHOW MEASUREMENTS LIMIT 2 OFFSET 3", want{kind: planRead, shards: 2, mode: mergeShowList, send: "LIMIT 5"}},
		{"SHOW SERIES FROM " + a, want{kind: planRead, shards: 1}},
		{"SHOW TAG KEYS SLIMIT 1", want{refused: "SLIMIT and SOFFSET on SHOW TAG KEYS"}},
		{"SHOW TAG VALUES WITH KEY = host LIMIT 1", want{kind: planRead, shards: 2, mode: mergeShowPerName, send: "LIMIT 1"}},
		{"SHOW FIELD KEYS OFFSET 1", want{kind: planRead, shards: 2, mode: mergeShowPerName}},
		{"SHOW MEASUREMENT CARDINALITY", want{kind: planRead, shards: 2, mode: mergeSum}},
		{"SHOW TAG KEY CARDINALITY", want{kind: planRead, shards: 2, mode: mergeSum}},
		{"KILL QUERY 3", want{refused: "KILL QUERY"}},
		{fmt.Sprintf("EXPLAIN SELECT * FROM %s, %s", a, b), want{refused: "EXPLAIN"}},
		{"CREATE DATABASE x", want{kind: planChange, shards: 2}},
		{"DROP MEASUREMENT " + a, want{kind: planChange, shards: 1}},
		{fmt.Sprintf("DELETE FROM %s, %s WHERE time < now()", a, a), want{kind: planChange, shards: 1}},
		{"DROP SERIES FROM /x/", want{kind: planChange, shards: 2}},
		{"DELETE WHERE time < now()", want{kind: planChange, shards: 2}},
		{fmt.Sprintf("SELECT mean(v) INTO %s FROM %s GROUP BY time(1h)", a, a), want{kind: planChange, shards: 1}},
		{fmt.Sprintf("SELECT mean(v) INTO db.autogen.:MEASUREMENT FROM %s, %s GROUP BY time(1h)", a, b), want{kind: planChange, shards: 2}},
		{fmt.Sprintf("SELECT mean(v) INTO %s FROM %s GROUP BY time(1h)", b, a), want{refused: "the measurement it reads"}},
		{fmt.Sprintf("SELECT mean(v) INTO other.autogen.%s FROM %s", a, a), want{refused: `reads database "db" and writes into database "other"`}},
		{fmt.Sprintf("CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) INTO %s_1h FROM %s GROUP BY time(1h) END", a, a), want{refused: "a continuous query must write every point"}},
		{fmt.Sprintf("CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) INTO %s FROM %s GROUP BY time(1h) END", a, a), want{kind: planChange, shards: 2}},
	} {
		sp, err := planOne(t, p, c.q)
		if c.w.refused != "" {
			if err == nil || !strings.Contains(err.Error(), c.w.refused) {
				t.Errorf("%s: %v; want refused with %q", c.q, err, c.w.refused)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.q, err)
			continue
		}
		if sp.kind != c.w.kind || (c.w.kind != planAny && bits.OnesCount64(sp.shards) != c.w.shards) {
			t.Errorf("%s: kind %d on %d shards, want kind %d on %d", c.q, sp.kind, bits.OnesCount64(sp.shards), c.w.kind, c.w.shards)
		}
		if c.w.shards > 1 && sp.kind == planRead && sp.mode != c.w.mode {
			t.Errorf("%s: mode %d, want %d", c.q, sp.mode, c.w.mode)
		}
		if c.w.send != "" {
			send := sp.send
			if send == nil {
				send = sp.stmt
			}
			if !strings.Contains(send.String(), c.w.send) {
				t.Errorf("%s: sends %s, want %q in it", c.q, send, c.w.send)
			}
		}
	}
}

func TestPlanByTag(t *testing.T) {
	set := testSet(t, "tag:customer", nil)
	c1, c2 := twoOn(t, set, func(n string) []byte { return set.Key("db", "orders", n) })
	p := newPlanner(set, "db")
	for _, c := range []struct {
		q       string
		shards  int
		mode    mergeMode
		send    string
		refused string
	}{
		{q: fmt.Sprintf("SELECT percentile(v, 9) FROM orders WHERE customer = '%s' AND time > now() - 1h", c1), shards: 1},
		{q: fmt.Sprintf("SELECT * FROM orders WHERE (customer = '%s' OR customer = '%s') AND x > 1", c1, c1), shards: 1},
		{q: fmt.Sprintf("SELECT * FROM orders WHERE customer = '%s' OR customer = '%s'", c1, c2), shards: 2, mode: mergeRows},
		{q: fmt.Sprintf("SELECT * FROM orders WHERE customer = '%s' OR x = 1", c1), shards: 2, mode: mergeRows},
		{q: fmt.Sprintf("SELECT * FROM orders WHERE customer::field = '%s'", c1), shards: 2, mode: mergeRows},
		{q: fmt.Sprintf("SELECT * FROM orders WHERE customer = '%s' AND customer = '%s'", c1, c2), shards: 1},
		{q: "SELECT stddev(v) FROM orders GROUP BY customer", shards: 2, mode: mergeSeries},
		{q: "SELECT stddev(v) FROM orders GROUP BY /cust/", shards: 2, mode: mergeSeries},
		{q: "SELECT stddev(v) FROM orders GROUP BY /host/", refused: "stddev()"},
		{q: "SELECT stddev(v) FROM orders GROUP BY * SLIMIT 3", refused: "SLIMIT"},
		{q: "SELECT v FROM orders LIMIT 2 OFFSET 3", shards: 2, mode: mergeRows, send: "LIMIT 5"},
		{q: "SELECT abs(v) * 2 FROM orders OFFSET 3", shards: 2, mode: mergeRows},
		{q: "SELECT mean(v) AS m, count(v) FROM orders GROUP BY time(1m) fill(none) LIMIT 1",
			shards: 2, mode: mergeAggregate, send: "SELECT sum(v) AS __influxgate_1, count(v) AS __influxgate_2, count(v) AS __influxgate_3 FROM orders GROUP BY time(1m) fill(none) LIMIT 1"},
		{q: "SELECT max(v) FROM orders", shards: 2, mode: mergeSelector},
		{q: "SELECT max(v) FROM orders GROUP BY time(1m)", shards: 2, mode: mergeAggregate},
		{q: "SELECT min(v), host FROM orders", shards: 2, mode: mergeSelector},
		{q: "SELECT min(v), host FROM orders GROUP BY time(1m)", refused: "select min(v) alone"},
		{q: "SELECT min(v), max(v), host FROM orders", refused: "mixing functions with fields"},
		{q: "SELECT count(v) FROM orders GROUP BY time(1m) fill(previous)", refused: "fill(previous)"},
		{q: "SELECT count(v) FROM orders GROUP BY time(1m) fill(1)", refused: "fill(1)"},
		{q: "SELECT sum(v) / count(v) FROM orders", refused: "math on the results of functions"},
		{q: "SELECT count(/v/) FROM orders", refused: "name the field"},
		{q: "SELECT *, count(v) FROM orders", refused: "a wildcard next to functions"},
		{q: "SELECT top(v, 2) FROM orders", refused: "top()"},
		{q: "SELECT v FROM orders SOFFSET 1", refused: "SLIMIT"},
		{q: "SELECT mean(v) FROM (SELECT v FROM orders GROUP BY customer) GROUP BY customer", shards: 2, mode: mergeSeries},
		{q: "SELECT mean(v) FROM (SELECT v FROM orders GROUP BY customer)", refused: "every level groups by it"},
		{q: fmt.Sprintf("SELECT mean(v) FROM (SELECT v FROM orders WHERE customer = '%s')", c1), shards: 1},
		{q: "SHOW SERIES CARDINALITY", shards: 2, mode: mergeSum},
		{q: "SHOW FIELD KEY CARDINALITY", refused: "run SHOW FIELD KEYS instead"},
		{q: "SELECT sum(v) INTO orders FROM orders GROUP BY time(1h), customer", shards: 2},
		{q: "SELECT sum(v) INTO orders FROM orders GROUP BY time(1h)", refused: "does not group by customer"},
		{q: "DROP MEASUREMENT orders", shards: 2},
	} {
		sp, err := planOne(t, p, c.q)
		if c.refused != "" {
			if err == nil || !strings.Contains(err.Error(), c.refused) {
				t.Errorf("%s: %v; want refused with %q", c.q, err, c.refused)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.q, err)
			continue
		}
		if n := bits.OnesCount64(sp.shards); n != c.shards || (n > 1 && sp.kind == planRead && sp.mode != c.mode) {
			t.Errorf("%s: %d shards mode %d, want %d shards mode %d", c.q, n, sp.mode, c.shards, c.mode)
		}
		if c.send != "" {
			if sp.send == nil || !strings.Contains(sp.send.String(), c.send) {
				t.Errorf("%s: sends %v, want %s", c.q, sp.send, c.send)
			}
		}
	}
}

// During a rebalance, reads leave strays out and statements that would
// need every copy of a moving key are refused.
func TestPlanDuringARebalance(t *testing.T) {
	from, to := shard.NewPlacement([]string{"s1"}), shard.NewPlacement([]string{"s1", "s2"})
	var moving string
	for i := 0; i < 100; i++ {
		if n := fmt.Sprintf("m%d", i); to.Owner(shard.AppendKey(nil, "db", []byte(n), nil, false)) == "s2" {
			moving = n
			break
		}
	}
	route := shard.NewMoveRoute(from, to, map[string]bool{}, map[string]bool{})
	set := testSet(t, "measurement", route)
	p := newPlanner(set, "db")
	sp, err := planOne(t, p, "SELECT * FROM /m/")
	if err != nil || sp.strays != straysByName {
		t.Errorf("regex FROM during a rebalance: %v, strays %d", err, sp.strays)
	}
	// Not moved yet: read from the old owner alone, dropped there and on
	// the new owner.
	if sp, err := planOne(t, p, "SELECT * FROM "+moving); err != nil || sp.shards != 1 {
		t.Errorf("a key not moved yet: %v, shards %b; want s1 alone", err, sp.shards)
	}
	if sp, err := planOne(t, p, "DROP MEASUREMENT "+moving); err != nil || sp.shards != 3 {
		t.Errorf("DROP MEASUREMENT of a moving key: %v, shards %b; want both", err, sp.shards)
	}
	if _, err := planOne(t, p, fmt.Sprintf("SELECT v INTO %s FROM %s", moving, moving)); err == nil || !strings.Contains(err.Error(), "rebalance") {
		t.Errorf("SELECT INTO a moving key: %v", err)
	}
	tagSet := testSet(t, "tag:c", shard.NewMoveRoute(from, to, map[string]bool{}, map[string]bool{}))
	tp := newPlanner(tagSet, "db")
	for q, want := range map[string]strayRule{
		"SELECT count(v) FROM orders":             straysExclude,
		"SELECT v FROM orders":                    straysExclude,
		"SELECT spread(v) FROM orders GROUP BY c": straysByTag,
	} {
		if sp, err := planOne(t, tp, q); err != nil || sp.strays != want {
			t.Errorf("%s: %v, strays %d, want %d", q, err, sp.strays, want)
		}
	}
	if _, err := planOne(t, tp, "SHOW SERIES CARDINALITY"); err == nil || !strings.Contains(err.Error(), "rebalance") {
		t.Errorf("SHOW SERIES CARDINALITY during a rebalance: %v", err)
	}
}

// Planning never panics, whatever InfluxDB's parser accepts.
func FuzzPlan(f *testing.F) {
	for _, q := range []string{
		"SELECT mean(v), count(v) FROM a, /b/ WHERE k = 'x' OR k = 'y' GROUP BY time(1m), * fill(none) LIMIT 2 SLIMIT 1",
		"SELECT max(v), h INTO db.rp.:MEASUREMENT FROM (SELECT v FROM c GROUP BY k) GROUP BY k",
		"SHOW TAG VALUES ON db FROM m WITH KEY = k LIMIT 1 OFFSET 2; SHOW SERIES CARDINALITY; DROP MEASUREMENT m",
		"CREATE CONTINUOUS QUERY c ON db BEGIN SELECT sum(v) INTO m FROM m GROUP BY time(1h), k END; DELETE FROM m",
		"EXPLAIN SELECT * FROM a, b; KILL QUERY 1; SHOW DATABASES",
	} {
		f.Add(q)
	}
	sets := []*shard.Set{testSet(f, "measurement", nil), testSet(f, "tag:k", nil)}
	f.Fuzz(func(t *testing.T, q string) {
		parsed, err := influxql.ParseQuery(q)
		if err != nil {
			return
		}
		for _, set := range sets {
			p := newPlanner(set, "db")
			for _, st := range parsed.Statements {
				if sp, err := p.plan(st); err == nil && sp.kind != planAny && sp.shards == 0 {
					t.Fatalf("%s: no shard", st)
				}
			}
		}
	})
}
