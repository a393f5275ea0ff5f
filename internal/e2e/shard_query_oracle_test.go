package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// The oracle of the query gateway of a sharded listener: the same points
// written through influxgate into a cluster of 2 shards x 2 influxd and
// directly into one influxd that holds them all. Every query must be
// answered through influxgate as that one server answers it.

// oracleCluster is a sharded listener and its oracle.
type oracleCluster struct {
	*shardedCluster
	g      *gate
	oracle *testinflux.Server
}

func newOracleCluster(t *testing.T, shardKey string) *oracleCluster {
	t.Helper()
	c := newShardedConfig(t, shardKey, 2, "db")
	o := &oracleCluster{shardedCluster: c, oracle: testinflux.Start(t, testinflux.Options{})}
	o.oracle.CreateDatabase(t, "db")
	o.g = startGate(t, c.cfg)
	return o
}

// write writes line protocol (ns) through influxgate and to the oracle.
func (o *oracleCluster) write(t *testing.T, body string) {
	t.Helper()
	o.g.mustWrite(t, "db=db", body)
	o.oracle.Write(t, "db", "", body)
	o.g.waitCaughtUp(t, 30*time.Second)
}

// ask sends the same /query to influxgate and to the oracle.
func (o *oracleCluster) ask(t *testing.T, params url.Values, hdr ...string) (got, want response) {
	t.Helper()
	got = o.g.query(t, http.MethodPost, params, hdr...)
	want = do(t, http.MethodPost, o.oracle.URL()+"/query", params.Encode(),
		append(hdr, "Content-Type", "application/x-www-form-urlencoded")...)
	return got, want
}

// oracleCase is one query of a table.
type oracleCase struct {
	q      string
	params url.Values // extra parameters (db=db unless set)
	hdr    []string
	// refused, if set, is a text the 400 of a refused statement holds.
	refused string
	// single: the query must have been sent whole to one shard.
	single bool
}

// check runs one case and reports whether influxgate merged the answers
// of several shards.
func (o *oracleCluster) check(t *testing.T, c oracleCase) (merged bool) {
	t.Helper()
	params := url.Values{"q": {c.q}, "db": {"db"}}
	for k, v := range c.params {
		params[k] = v
	}
	got, want := o.ask(t, params, c.hdr...)
	if c.refused != "" {
		if got.Status != http.StatusBadRequest || !strings.Contains(got.errText(), c.refused) {
			t.Errorf("%s: got %d %s; want a 400 that says %q", c.q, got.Status, clip(got.Body), c.refused)
		}
		if got.Header.Get("X-Influxdb-Error") == "" {
			t.Errorf("%s: the refusal has no X-Influxdb-Error", c.q)
		}
		return false
	}
	if got.Status != want.Status {
		t.Errorf("%s: status %d, oracle %d\n got: %s\nwant: %s", c.q, got.Status, want.Status, clip(got.Body), clip(want.Body))
		return false
	}
	backends := got.Header.Get("X-Influxgate-Backend")
	merged = strings.Contains(backends, ",")
	if c.single && strings.Contains(backends, ",") {
		t.Errorf("%s: answered by %s, want one shard", c.q, backends)
	}
	if ct := got.Header.Get("Content-Type"); ct != want.Header.Get("Content-Type") {
		t.Errorf("%s: Content-Type %q, oracle %q", c.q, ct, want.Header.Get("Content-Type"))
	}
	gotBody, wantBody := got.Body, want.Body
	if want.Header.Get("Content-Encoding") == "gzip" {
		if got.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: not gzipped", c.q)
			return merged
		}
		gotBody, wantBody = gunzip(t, gotBody), gunzip(t, wantBody)
	}
	if strings.Contains(want.Header.Get("Content-Type"), "csv") {
		if gotBody != wantBody {
			t.Errorf("%s: CSV differs\n got: %s\nwant: %s", c.q, clip(gotBody), clip(wantBody))
		}
		return merged
	}
	if err := sameJSONStream(gotBody, wantBody); err != nil {
		t.Errorf("%s: %v\n got: %s\nwant: %s", c.q, err, clip(gotBody), clip(wantBody))
	}
	return merged
}

// checkAll runs a table and fails unless at least minMerged of its
// queries were answered by merging several shards (a table that only
// reaches one shard tests nothing of the merge).
func (o *oracleCluster) checkAll(t *testing.T, cases []oracleCase, minMerged int) {
	t.Helper()
	merged := 0
	for _, c := range cases {
		if o.check(t, c) {
			merged++
		}
	}
	if merged < minMerged {
		t.Errorf("only %d of %d queries merged answers of several shards, want at least %d", merged, len(cases), minMerged)
	}
}

func gunzip(t *testing.T, s string) string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(s))
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	return string(b)
}

// sameJSONStream compares two answers (one JSON object, or a chunked
// stream of them) value by value: numbers as numbers, floats within a
// relative 1e-9 (a sum across shards adds in another order), order kept.
func sameJSONStream(got, want string) error {
	g, err := decodeStream(got)
	if err != nil {
		return fmt.Errorf("influxgate's answer: %v", err)
	}
	w, err := decodeStream(want)
	if err != nil {
		return fmt.Errorf("oracle's answer: %v", err)
	}
	if len(g) != len(w) {
		return fmt.Errorf("%d JSON objects, oracle %d", len(g), len(w))
	}
	for i := range g {
		if err := sameValue(g[i], w[i], ""); err != nil {
			return fmt.Errorf("object %d: %v", i, err)
		}
	}
	return nil
}

func decodeStream(s string) ([]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var out []any
	for {
		var v any
		if err := dec.Decode(&v); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

func sameValue(g, w any, path string) error {
	switch w := w.(type) {
	case map[string]any:
		gm, ok := g.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %v, oracle %v", path, g, w)
		}
		if len(gm) != len(w) {
			return fmt.Errorf("%s: keys %v, oracle %v", path, keysOf(gm), keysOf(w))
		}
		for k, wv := range w {
			gv, ok := gm[k]
			if !ok {
				return fmt.Errorf("%s: no %q", path, k)
			}
			if err := sameValue(gv, wv, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		gs, ok := g.([]any)
		if !ok || len(gs) != len(w) {
			return fmt.Errorf("%s: %d elements, oracle %d: %v", path, len(gs), len(w), clip(fmt.Sprint(g)))
		}
		for i := range w {
			if err := sameValue(gs[i], w[i], fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case json.Number:
		gn, ok := g.(json.Number)
		if !ok {
			return fmt.Errorf("%s: %v, oracle %v", path, g, w)
		}
		if gn == w {
			return nil
		}
		gi, err1 := strconv.ParseInt(string(gn), 10, 64)
		wi, err2 := strconv.ParseInt(string(w), 10, 64)
		if err1 == nil && err2 == nil && gi != wi {
			return fmt.Errorf("%s: %d, oracle %d", path, gi, wi)
		}
		gf, _ := strconv.ParseFloat(string(gn), 64)
		wf, _ := strconv.ParseFloat(string(w), 64)
		if math.Abs(gf-wf) > 1e-9*math.Max(math.Abs(gf), math.Abs(wf)) {
			return fmt.Errorf("%s: %s, oracle %s", path, gn, w)
		}
	default:
		if !reflect.DeepEqual(g, w) {
			return fmt.Errorf("%s: %v, oracle %v", path, g, w)
		}
	}
	return nil
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// t0 is the first time of the test data, and days spans more than one
// storage shard group (7 days) of influxd.
var t0 = time.Date(2023, 1, 2, 0, 0, 0, 0, time.UTC)

func ns(d time.Duration) int64 { return t0.Add(d).UnixNano() }

// rangeClause is a WHERE time range over the test data.
func rangeClause(from, to time.Duration) string {
	return fmt.Sprintf("time >= %d AND time < %d", ns(from), ns(to))
}

// measurementData is the data of the measurement-sharded oracle: ten
// measurements with different tags and fields, over 12 days.
func measurementData() string {
	var b bytes.Buffer
	ms := []string{"cpu", "mem", "disk", "net", "m0", "m1", "m2", "m3", "m4", "m5"}
	for i := 0; i < 600; i++ {
		m := ms[i%len(ms)]
		ts := ns(time.Duration(i) * 29 * time.Minute)
		host := fmt.Sprintf("h%d", (i/10)%4)
		region := []string{"eu", "us"}[(i/7)%2]
		switch m {
		case "disk":
			fmt.Fprintf(&b, "disk,path=/p%d used=%di,free=%g %d\n", i%3, i%50, float64(i)/3, ts)
		case "net":
			fmt.Fprintf(&b, "net bytes=%di %d\n", i*100, ts)
		case "mem":
			fmt.Fprintf(&b, "mem,host=%s free=%di,used=%g %d\n", host, i%29, float64(i)*0.25, ts)
		default:
			fmt.Fprintf(&b, "%s,host=%s,region=%s v=%g,n=%di,s=\"x%d\",ok=%t %d\n", m, host, region, float64(i)*1.5+0.1, i%17, i%3, i%2 == 0, ts)
		}
	}
	return b.String()
}

func TestShardedQueriesByMeasurementMatchOneServer(t *testing.T) {
	t.Parallel()
	o := newOracleCluster(t, "measurement")
	o.write(t, measurementData())
	// Both shards hold some of the measurements.
	owners := map[int]bool{}
	for _, m := range []string{"cpu", "mem", "disk", "net", "m0", "m1", "m2", "m3", "m4", "m5"} {
		owners[o.owner("db", m, "")] = true
	}
	if len(owners) != 2 {
		t.Fatalf("every measurement is on one shard: %v", owners)
	}
	day := 24 * time.Hour
	r3 := rangeClause(0, 3*day)
	r12 := rangeClause(0, 12*day)
	csv := []string{"Accept", "application/csv"}
	cases := []oracleCase{
		{q: "SELECT * FROM cpu", single: true},
		{q: "SELECT * FROM cpu, mem, disk, net"},
		{q: "SELECT * FROM /.*/"},
		{q: "SELECT * FROM /.*/ ORDER BY time DESC LIMIT 3 OFFSET 1"},
		{q: "SELECT v FROM /m[0-9]/ WHERE " + r3},
		{q: "SELECT v, n FROM cpu, m0, m1 WHERE host = 'h1' AND " + r3},
		{q: "SELECT mean(v), count(n), max(v), min(v), sum(n) FROM cpu, m0, m1 WHERE " + r12 + " GROUP BY time(1d), host fill(null)"},
		{q: "SELECT count(v) FROM /.*/ GROUP BY *"},
		{q: "SELECT * FROM cpu, mem, m2 GROUP BY * ORDER BY time DESC LIMIT 3"},
		{q: "SELECT v FROM cpu, m0, m1, m2 GROUP BY host SLIMIT 2 SOFFSET 1"},
		{q: "SELECT max(v), host FROM cpu, m0, m3"},
		{q: "SELECT top(v, 3), host FROM cpu, m0, m3"},
		{q: "SELECT percentile(v, 90), stddev(v), median(n) FROM cpu, m4 GROUP BY region"},
		{q: "SELECT derivative(mean(v), 1h) FROM cpu, m5 WHERE " + r3 + " GROUP BY time(6h)"},
		{q: "SELECT count(v) FROM cpu, mem, m1; SELECT v FROM m2, m3 LIMIT 2; SHOW DATABASES"},
		{q: "SHOW TAG KEYS FROM cpu LIMIT 1 OFFSET 1; SHOW SERIES FROM mem LIMIT 2 OFFSET 1; SELECT count(v) FROM cpu, m0, m1, m2"},
		{q: "SELECT v FROM cpu, m0 WHERE host = $h AND " + r3, params: url.Values{"params": {`{"h":"h2"}`}}},
		{q: "SELECT v, n FROM cpu, m0, m1 WHERE " + r3, params: url.Values{"epoch": {"ms"}}},
		{q: "SELECT count(v) FROM cpu, m0 WHERE " + r12 + " GROUP BY time(1d)", params: url.Values{"epoch": {"s"}}},
		{q: "SELECT v, s FROM cpu, m0, m1 WHERE " + r3 + " GROUP BY host", hdr: csv},
		{q: "SELECT * FROM cpu, disk, net WHERE " + r3 + "; SHOW MEASUREMENTS; SHOW TAG VALUES WITH KEY = host", hdr: csv},
		{q: "SELECT v FROM cpu, m0, m1 WHERE " + r3 + "; SHOW SERIES; SHOW FIELD KEYS; SHOW TAG KEYS; SHOW TAG VALUES WITH KEY =~ /.*/",
			params: url.Values{"chunked": {"true"}, "chunk_size": {"4"}}},
		{q: "SELECT v FROM cpu, m0 WHERE " + r3, params: url.Values{"chunked": {"true"}}},
		{q: "SELECT v FROM cpu, m0 WHERE " + r3, params: url.Values{"chunked": {"true"}, "chunk_size": {"5"}}, hdr: csv},
		{q: "SELECT v, n FROM cpu, m0, m1 WHERE " + r3 + "; SHOW MEASUREMENTS", hdr: []string{"Accept-Encoding", "gzip"}},
		{q: "SELECT v FROM cpu, m1 WHERE " + r3, params: url.Values{"pretty": {"true"}}},
		{q: "SELECT v FROM cpu, m0", params: url.Values{"db": {"nope"}}},
		{q: "SELECT v FROM cpu, m0 LIMIT 1; SELECT nope(v) FROM cpu, m0; SHOW MEASUREMENTS"},
		{q: "SELECT nope(v) FROM cpu, m0"},
		{q: "SELECT v FROM cpu, m0 LIMIT 1; SELECT nope(v) FROM cpu, m0; SHOW MEASUREMENTS; SHOW DATABASES", params: url.Values{"chunked": {"true"}}},
		{q: "SELECT v FROM cpu, m0 LIMIT 2; SELECT nope(v) FROM cpu, m0", hdr: csv},
		{q: "SELECT count(v) FROM cpu, m0, m1 WHERE " + r12 + " GROUP BY time(2d); SHOW FIELD KEYS", params: url.Values{"chunked": {"true"}, "chunk_size": {"2"}, "pretty": {"true"}}},
		{q: "SHOW MEASUREMENTS"},
		{q: "SHOW MEASUREMENTS LIMIT 3 OFFSET 2"},
		{q: "SHOW MEASUREMENTS WITH MEASUREMENT =~ /m.*/"},
		{q: "SHOW MEASUREMENTS WHERE host = 'h1'"},
		{q: "SHOW SERIES"},
		{q: "SHOW SERIES FROM cpu, mem LIMIT 5 OFFSET 3"},
		{q: "SHOW SERIES WHERE region = 'eu'"},
		{q: "SHOW TAG KEYS"},
		{q: "SHOW TAG KEYS LIMIT 1 OFFSET 1"},
		{q: "SHOW TAG KEYS FROM cpu, disk"},
		{q: "SHOW TAG VALUES WITH KEY = host"},
		{q: "SHOW TAG VALUES WITH KEY IN (host, region) LIMIT 2"},
		{q: "SHOW TAG VALUES WITH KEY = host WHERE region = 'us'"},
		{q: "SHOW FIELD KEYS"},
		{q: "SHOW FIELD KEYS FROM mem, net"},
		{q: "SHOW FIELD KEYS LIMIT 1 OFFSET 1"},
		{q: "SHOW SERIES CARDINALITY"},
		{q: "SHOW MEASUREMENT CARDINALITY"},
		{q: "SHOW SERIES EXACT CARDINALITY"},
		{q: "SHOW MEASUREMENT EXACT CARDINALITY"},
		{q: "SHOW TAG KEY CARDINALITY"},
		{q: "SHOW FIELD KEY CARDINALITY"},
		{q: "SHOW TAG VALUES CARDINALITY WITH KEY = host"},
		{q: "SHOW DATABASES", single: true},
		{q: "SHOW RETENTION POLICIES ON db", single: true},
		{q: "SELECT mean(v) FROM (SELECT v FROM cpu, m0, m1, m2, m3)", refused: "query one measurement at a time"},
		{q: "EXPLAIN SELECT count(v) FROM cpu, m0, m1, m2", refused: "run it on a backend of each shard"},
		{q: "KILL QUERY 1", refused: "KILL QUERY"},
	}
	o.checkAll(t, cases, 40)

	// A statement any shard answers goes to the first shard, its reads
	// spread over its backends by the routing strategy (round-robin).
	seen := map[string]int{}
	for i := 0; i < 6; i++ {
		r := o.g.query(t, http.MethodPost, url.Values{"q": {"SHOW DATABASES"}})
		seen[r.Header.Get("X-Influxgate-Backend")]++
	}
	if seen["s1a"] != 3 || seen["s1b"] != 3 {
		t.Errorf("SHOW DATABASES answered by %v; want s1a and s1b in turn", seen)
	}
}

// tagData is the data of the tag-sharded oracle: orders of 20 customers
// (some without the tag), events, and a measurement without the tag,
// over 12 days, every point at its own time.
func tagData() string {
	var b bytes.Buffer
	for i := 0; i < 900; i++ {
		ts := ns(time.Duration(i) * 19 * time.Minute)
		customer := fmt.Sprintf(",customer=c%02d", i%20)
		if i%23 == 0 {
			customer = ""
		}
		region := []string{"eu", "us", "ap"}[(i/5)%3]
		switch i % 6 {
		case 0:
			fmt.Fprintf(&b, "events%s,kind=k%d n=%di %d\n", customer, i%4, i%9, ts)
		case 1:
			fmt.Fprintf(&b, "plain,host=h%d load=%g %d\n", i%3, float64(i%13)/4, ts)
		default:
			fmt.Fprintf(&b, "orders%s,region=%s amount=%g,qty=%di,note=\"n%d\" %d\n", customer, region, float64(i)*0.37+1.01, i%11, i%5, ts)
		}
	}
	return b.String()
}

func TestShardedQueriesByTagMatchOneServer(t *testing.T) {
	t.Parallel()
	o := newOracleCluster(t, "tag:customer")
	o.write(t, tagData())
	owners := map[int]bool{}
	var c1, c2 string // two customers of orders on different shards
	for i := 0; i < 20; i++ {
		c := fmt.Sprintf("c%02d", i)
		owners[o.owner("db", "orders", c)] = true
		if c2 == "" && c1 != "" && o.owner("db", "orders", c) != o.owner("db", "orders", c1) {
			c2 = c
		}
		if c1 == "" {
			c1 = c
		}
	}
	if len(owners) != 2 || c2 == "" {
		t.Fatalf("the customers are all on one shard")
	}
	day := 24 * time.Hour
	r3 := rangeClause(0, 3*day)
	r12 := rangeClause(0, 12*day)
	csv := []string{"Accept", "application/csv"}
	cases := []oracleCase{
		// Pinned to one shard.
		{q: fmt.Sprintf("SELECT * FROM orders WHERE customer = '%s'", c1), single: true},
		{q: fmt.Sprintf("SELECT percentile(amount, 90) FROM orders WHERE customer = '%s' AND %s GROUP BY time(1d)", c2, r12), single: true},
		{q: fmt.Sprintf("SELECT * FROM orders WHERE customer = '%s' OR customer = '%s'", c1, c2)},
		{q: fmt.Sprintf("SELECT sum(qty) FROM orders WHERE (customer = '%s' OR customer = '%s') AND region = 'eu'", c1, c2)},
		// Grouped by the shard tag: series concatenated.
		{q: "SELECT mean(amount), count(qty) FROM orders WHERE " + r12 + " GROUP BY time(1d), customer"},
		{q: "SELECT last(amount), first(note) FROM orders GROUP BY *"},
		{q: "SELECT percentile(amount, 90), stddev(amount), spread(qty) FROM orders GROUP BY customer ORDER BY time DESC"},
		{q: "SELECT * FROM orders, events GROUP BY * LIMIT 2"},
		{q: "SELECT max(n) FROM (SELECT sum(n) AS n FROM events WHERE " + r12 + " GROUP BY time(1d), customer) GROUP BY customer"},
		// Raw rows merged by time.
		{q: "SELECT * FROM orders"},
		{q: "SELECT amount, customer FROM orders ORDER BY time DESC LIMIT 7 OFFSET 3"},
		{q: "SELECT amount, qty FROM orders GROUP BY region LIMIT 5 OFFSET 2"},
		{q: "SELECT amount * 2, note FROM orders WHERE region = 'eu' AND qty > 3 AND " + r3},
		{q: "SELECT * FROM /.*/ WHERE " + r3},
		{q: "SELECT * FROM orders, plain ORDER BY time DESC LIMIT 4"},
		// Aggregates across shards.
		{q: "SELECT count(amount), sum(qty), min(amount), max(amount), mean(amount) FROM orders WHERE " + r12 + " GROUP BY time(12h) fill(null)"},
		{q: "SELECT count(amount), sum(qty), mean(qty) FROM orders WHERE " + r12 + " GROUP BY time(1d), region fill(none) ORDER BY time DESC LIMIT 3 OFFSET 1"},
		{q: "SELECT count(amount) FROM orders"},
		{q: "SELECT count(amount) AS c, mean(amount) AS m FROM orders, events, plain"},
		{q: "SELECT mean(qty), max(qty) FROM orders GROUP BY region"},
		{q: "SELECT sum(n) FROM events WHERE " + r12 + " GROUP BY time(2d), kind"},
		{q: "SELECT max(amount) FROM orders"},
		{q: "SELECT min(amount), customer, region FROM orders WHERE " + r3},
		{q: "SELECT max(qty) FROM orders GROUP BY region"},
		{q: "SELECT count(amount) FROM orders WHERE " + r12 + " GROUP BY time(1d)", params: url.Values{"epoch": {"s"}}},
		{q: "SELECT sum(qty) FROM orders WHERE " + r12 + " GROUP BY time(1d), region", hdr: csv},
		{q: "SELECT amount FROM orders WHERE " + r3, params: url.Values{"chunked": {"true"}, "chunk_size": {"7"}}},
		{q: "SELECT amount FROM orders WHERE " + r3 + "; SHOW TAG VALUES WITH KEY = customer", hdr: []string{"Accept-Encoding", "gzip"}},
		// SHOW statements.
		{q: "SHOW MEASUREMENTS"},
		{q: "SHOW SERIES"},
		{q: "SHOW SERIES FROM orders WHERE region = 'us' LIMIT 10 OFFSET 5"},
		{q: "SHOW TAG KEYS"},
		{q: "SHOW TAG VALUES WITH KEY = customer"},
		{q: "SHOW TAG VALUES FROM orders WITH KEY = customer LIMIT 5 OFFSET 2"},
		{q: "SHOW TAG VALUES WITH KEY IN (customer, region) WHERE region = 'ap'"},
		{q: "SHOW FIELD KEYS"},
		{q: "SHOW SERIES CARDINALITY"},
		{q: "SHOW SERIES EXACT CARDINALITY"},
		{q: "SHOW DATABASES; SHOW RETENTION POLICIES", single: true},
		// Refused, each with its reason.
		{q: "SELECT percentile(amount, 90) FROM orders", refused: "percentile() across the shards"},
		{q: "SELECT median(amount) FROM orders GROUP BY region", refused: "GROUP BY customer"},
		{q: "SELECT first(amount) FROM orders", refused: "cannot be computed exactly"},
		{q: "SELECT derivative(amount) FROM orders", refused: "derivative()"},
		{q: "SELECT mean(amount) * 2 FROM orders", refused: "math on the results of functions"},
		{q: "SELECT count(distinct(note)) FROM orders", refused: "cannot be computed exactly"},
		{q: "SELECT count(*) FROM orders", refused: "name the field"},
		{q: "SELECT count(amount) FROM orders WHERE " + r3 + " GROUP BY time(1h) fill(0)", refused: "fill(0)"},
		{q: "SELECT amount FROM orders GROUP BY region SLIMIT 1", refused: "SLIMIT"},
		{q: "SELECT max(amount), note FROM orders WHERE " + r3 + " GROUP BY time(1d)", refused: "select max(amount) alone"},
		{q: "SELECT mean(a) FROM (SELECT amount AS a FROM orders)", refused: "every level groups by it"},
		{q: "SHOW MEASUREMENT CARDINALITY", refused: "SHOW MEASUREMENTS"},
		{q: "SHOW TAG VALUES CARDINALITY WITH KEY = region", refused: "not exact"},
		{q: "SELECT count(amount) FROM orders; SELECT percentile(amount, 5) FROM orders", refused: "percentile()"},
	}
	o.checkAll(t, cases, 30)
}
