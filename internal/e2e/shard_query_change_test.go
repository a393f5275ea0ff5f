package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// Schema changes on a sharded listener: to every backend of every shard,
// in order with the writes; DROP MEASUREMENT, DELETE and DROP SERIES only
// where the data is; SELECT ... INTO and continuous queries only when
// what they write stays on the shard that computes it.

// everyBackend returns the backends of every shard.
func (c *shardedCluster) everyBackend() []*testinflux.Server {
	var out []*testinflux.Server
	for _, rs := range c.shards {
		out = append(out, rs...)
	}
	return out
}

// showHas reports whether q's answer on s names want.
func showHas(t *testing.T, s *testinflux.Server, db, q, want string) bool {
	t.Helper()
	return strings.Contains(string(s.Query(t, db, q).Body), want)
}

func TestShardedSchemaChangesByMeasurement(t *testing.T) {
	t.Parallel()
	o := newOracleCluster(t, "measurement")
	g := o.g
	// Two measurements on different shards.
	var ma, mb string
	for i := 0; i < 50 && mb == ""; i++ {
		m := fmt.Sprintf("m%d", i)
		if ma == "" {
			ma = m
		} else if o.owner("db", m, "") != o.owner("db", ma, "") {
			mb = m
		}
	}
	o.write(t, fmt.Sprintf("%s,host=a v=1 %d\n%s,host=b v=2 %d\n%s,host=a v=3 %d\n", ma, ns(0), ma, ns(time.Hour), mb, ns(2*time.Hour)))

	post := func(q string, extra ...string) response {
		t.Helper()
		p := url.Values{"q": {q}}
		for i := 0; i+1 < len(extra); i += 2 {
			p.Set(extra[i], extra[i+1])
		}
		return g.query(t, http.MethodPost, p)
	}

	// Broadcast: every backend of every shard, InfluxDB's answer.
	for _, q := range []string{
		"CREATE DATABASE other",
		"CREATE RETENTION POLICY week ON db DURATION 7d REPLICATION 1",
		"CREATE USER reader WITH PASSWORD 'pw'",
		fmt.Sprintf(`CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT mean(v) INTO %s FROM %s GROUP BY time(1h), * END`, ma, ma),
	} {
		if r := post(q); r.Status != http.StatusOK || strings.TrimSpace(r.Body) != `{"results":[{"statement_id":0}]}` {
			t.Fatalf("%s: %d %s", q, r.Status, r.Body)
		}
	}
	g.waitCaughtUp(t, 30*time.Second)
	for i, s := range o.everyBackend() {
		for q, want := range map[string]string{"SHOW DATABASES": `"other"`, "SHOW RETENTION POLICIES ON db": `"week"`,
			"SHOW USERS": `"reader"`, "SHOW CONTINUOUS QUERIES": `"cq"`} {
			if !showHas(t, s, "", q, want) {
				t.Errorf("backend %d: %s lacks %s", i, q, want)
			}
		}
	}

	// A continuous query or SELECT ... INTO whose points would land on
	// another shard is refused, with the rule.
	for _, q := range []string{
		fmt.Sprintf(`CREATE CONTINUOUS QUERY cq2 ON db BEGIN SELECT mean(v) INTO %s_1h FROM %s GROUP BY time(1h) END`, ma, ma),
		fmt.Sprintf("SELECT v INTO %s FROM %s", mb, ma),
		fmt.Sprintf("SELECT v INTO other..%s FROM %s", ma, ma),
		fmt.Sprintf("SELECT v INTO %s FROM /m.*/", ma),
	} {
		r := post(q, "db", "db")
		if r.Status != http.StatusBadRequest || !strings.Contains(r.errText(), "must write every point on the shard that computes it") {
			t.Errorf("%s: %d %s; want a 400 with the rule", q, r.Status, r.Body)
		}
	}

	// SELECT ... INTO the measurement it reads runs where the data is;
	// the answer counts the points written on every shard.
	q := fmt.Sprintf("SELECT sum(v) AS total INTO db.autogen.:MEASUREMENT FROM %s, %s WHERE %s GROUP BY time(1d), *", ma, mb, rangeClause(0, 24*time.Hour))
	r := post(q, "db", "db")
	want := do(t, http.MethodPost, o.oracle.URL()+"/query", url.Values{"q": {q}, "db": {"db"}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `"written"`) || r.Body != want.Body {
		t.Errorf("SELECT INTO: %d %s; oracle %s", r.Status, r.Body, want.Body)
	}
	g.waitCaughtUp(t, 30*time.Second)
	for i, rs := range o.shards {
		for _, s := range rs {
			for _, m := range []string{ma, mb} {
				has := showHas(t, s, "db", "SELECT count(total) FROM "+m, `"count"`)
				if mine := o.owner("db", m, "") == i; has != mine {
					t.Errorf("shard %d holds the points SELECT INTO wrote for %s: %v, want %v", i+1, m, has, mine)
				}
			}
		}
	}

	// DROP MEASUREMENT and DELETE go where the measurement is: a stray
	// copy on the other shard (put there behind influxgate's back) stays.
	other := 1 - o.owner("db", ma, "")
	for _, s := range o.shards[other] {
		s.Write(t, "db", "", fmt.Sprintf("%s,host=stray v=9 %d\n", ma, ns(0)))
	}
	if r := post(fmt.Sprintf("DELETE FROM %s WHERE host = 'b'", ma), "db", "db"); r.Status != http.StatusOK {
		t.Fatalf("DELETE: %d %s", r.Status, r.Body)
	}
	if r := post("DROP MEASUREMENT "+ma, "db", "db"); r.Status != http.StatusOK {
		t.Fatalf("DROP MEASUREMENT: %d %s", r.Status, r.Body)
	}
	g.waitCaughtUp(t, 30*time.Second)
	for _, s := range o.shards[o.owner("db", ma, "")] {
		if n := s.Count(t, "db", ma); n != 0 {
			t.Errorf("the owner of %s still holds %d points after DROP MEASUREMENT", ma, n)
		}
	}
	for _, s := range o.shards[other] {
		if n := s.Count(t, "db", ma); n != 1 {
			t.Errorf("DROP MEASUREMENT %s reached the shard that does not hold it: %d points left, want the stray 1", ma, n)
		}
	}

	// A request mixing a change with a read across shards runs statement
	// by statement, in order.
	r = post(fmt.Sprintf("CREATE DATABASE third; SELECT count(v) FROM %s, %s", ma, mb), "db", "db")
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Body, `{"results":[{"statement_id":0},{"statement_id":1,"series":[{"name":"`) ||
		!strings.Contains(r.Body, `"name":"`+ma+`"`) || !strings.Contains(r.Body, `"name":"`+mb+`"`) {
		t.Errorf("mixed request: %d %s", r.Status, r.Body)
	}
	// CREATE USER goes alone (its text cannot be printed back).
	if r := post(fmt.Sprintf("CREATE USER u2 WITH PASSWORD 'x'; SELECT count(v) FROM %s, %s", ma, mb), "db", "db"); r.Status != http.StatusBadRequest {
		t.Errorf("CREATE USER with a read across shards: %d %s", r.Status, r.Body)
	}
}

func TestShardedSchemaChangesByTag(t *testing.T) {
	t.Parallel()
	o := newOracleCluster(t, "tag:customer")
	o.write(t, tagData())
	post := func(q string) response {
		t.Helper()
		return o.g.query(t, http.MethodPost, url.Values{"q": {q}, "db": {"db"}})
	}
	// Grouped by the shard tag, SELECT ... INTO runs on every shard and
	// counts what all wrote, as the oracle does.
	q := "SELECT sum(qty) AS total INTO orders FROM orders WHERE " + rangeClause(0, 12*24*time.Hour) + " GROUP BY time(1d), customer"
	r := post(q)
	want := do(t, http.MethodPost, o.oracle.URL()+"/query", url.Values{"q": {q}, "db": {"db"}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if r.Status != http.StatusOK || r.Body != want.Body {
		t.Errorf("SELECT INTO: %d %s; oracle %s", r.Status, r.Body, want.Body)
	}
	o.g.waitCaughtUp(t, 30*time.Second)
	o.check(t, oracleCase{q: "SELECT sum(total), count(total) FROM orders GROUP BY customer"})
	for _, q := range []string{
		"SELECT sum(qty) INTO orders FROM orders GROUP BY time(1d)",
		"SELECT sum(qty) INTO orders FROM orders GROUP BY time(1d), region",
	} {
		if r := post(q); r.Status != http.StatusBadRequest || !strings.Contains(r.errText(), "grouped by the shard tag") {
			t.Errorf("%s: %d %s", q, r.Status, r.Body)
		}
	}
	// DROP SERIES goes to every shard: the customers' series are on both.
	if r := post("DROP SERIES FROM orders WHERE region = 'eu'"); r.Status != http.StatusOK {
		t.Fatalf("DROP SERIES: %d %s", r.Status, r.Body)
	}
	if r := o.oracle.Query(t, "db", "DROP SERIES FROM orders WHERE region = 'eu'"); r.Err() != nil {
		t.Fatal(r.Err())
	}
	o.g.waitCaughtUp(t, 30*time.Second)
	for i, s := range o.everyBackend() {
		if showHas(t, s, "db", "SHOW SERIES FROM orders WHERE region = 'eu'", "orders,") {
			t.Errorf("backend %d still has eu series", i)
		}
	}
	o.check(t, oracleCase{q: "SELECT count(amount) FROM orders GROUP BY region"})
}

// With every backend down, a schema change is stored in every shard's
// log and answered with InfluxDB's result shape and a warning; each
// backend applies it when it returns.
func TestShardedSchemaChangeQueuedWhileBackendsAreDown(t *testing.T) {
	t.Parallel()
	c := newShardedConfig(t, "measurement", 2, "db")
	g := startGate(t, c.cfg)
	for _, s := range c.everyBackend() {
		s.Stop(t)
	}
	r := g.query(t, http.MethodPost, url.Values{"q": {"CREATE DATABASE later"}})
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `"level":"warning"`) || !strings.Contains(r.Body, "no backend could apply it yet") {
		t.Fatalf("CREATE DATABASE with every backend down: %d %s", r.Status, r.Body)
	}
	for _, s := range c.everyBackend() {
		s.Restart(t)
	}
	g.waitCaughtUp(t, 60*time.Second)
	for i, s := range c.everyBackend() {
		if !showHas(t, s, "", "SHOW DATABASES", `"later"`) {
			t.Errorf("backend %d did not apply CREATE DATABASE when it returned", i)
		}
	}
}
