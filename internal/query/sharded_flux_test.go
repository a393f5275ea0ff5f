package query

import (
	"fmt"
	"strings"
	"testing"
)

func TestFluxShard(t *testing.T) {
	mset := testSet(t, "measurement", nil)
	ma, mb := twoOn(t, mset, func(n string) []byte { return mset.Key("db", n, "") })
	tset := testSet(t, "tag:customer", nil)
	c1, c2 := twoOn(t, tset, func(n string) []byte { return tset.Key("db", "orders", n) })
	mpos := func(m string) int { return newPlanner(mset, "").owner("db", m, "") }
	tpos := func(c string) int { return newPlanner(tset, "").owner("db", "orders", c) }
	pipe := `from(bucket: "db/autogen") |> range(start: -1h) |> filter(fn: (r) => %s) |> mean()`
	for _, c := range []struct {
		tag     bool
		script  string
		want    int
		refused string
	}{
		{script: fmt.Sprintf(pipe, fmt.Sprintf(`r._measurement == %q`, ma)), want: mpos(ma)},
		{script: fmt.Sprintf(pipe, fmt.Sprintf(`r["_measurement"] == %q and r._field == "v"`, mb)), want: mpos(mb)},
		{script: fmt.Sprintf(`// a comment with from(
from(bucket:"db") |> range(start: -1h) |> filter(fn: (row) => (%q == row._measurement) and row.host =~ /a|b/)`, ma), want: mpos(ma)},
		{script: fmt.Sprintf(pipe, fmt.Sprintf(`r._measurement == %q or r._measurement == %q`, ma, ma)), want: mpos(ma)},
		{script: fmt.Sprintf(pipe, fmt.Sprintf(`r._measurement == %q or r._measurement == %q`, ma, mb)), refused: "on shards s1, s2"},
		{script: fmt.Sprintf(pipe, fmt.Sprintf(`r._measurement == %q or r.x == "y"`, ma)), refused: "does not filter r._measurement"},
		{script: fmt.Sprintf(pipe, fmt.Sprintf(`r._measurement != %q`, ma)), refused: "does not filter r._measurement"},
		{script: fmt.Sprintf(pipe, `r._measurement == "${m}"`), refused: "does not filter r._measurement"},
		{script: fmt.Sprintf(`a = from(bucket: "db") |> range(start: -1h)
a |> filter(fn: (r) => r._measurement == %q)`, ma), refused: "does not filter r._measurement"},
		{script: fmt.Sprintf(`from(bucket: "db") |> range(start: -1h) |> filter(fn: (r) => r._measurement == %q) |> join(tables: {b: from(bucket: "db")})`, ma), refused: "more than once"},
		{script: `import "influxdata/influxdb/v1" v1.measurements(bucket: "db")`, refused: "measurements()"},
		{script: `import "csv" csv.from(csv: "a")`, refused: "from()"},
		{script: `buckets()`, refused: "buckets()"},
		{script: `1 + 1`, refused: "no from()"},
		{tag: true, script: fmt.Sprintf(pipe, fmt.Sprintf(`r._measurement == "orders" and r.customer == %q`, c1)), want: tpos(c1)},
		{tag: true, script: fmt.Sprintf(pipe, fmt.Sprintf(`r.customer == %q and r._measurement == "orders"`, c2)), want: tpos(c2)},
		{tag: true, script: fmt.Sprintf(`from(bucket: "db/autogen") |> filter(fn: (r) => r._measurement == "orders") |> range(start: -1h) |> filter(fn: (r) => r["customer"] == %q)`, c1), want: tpos(c1)},
		{tag: true, script: fmt.Sprintf(pipe, `r._measurement == "orders"`), refused: "does not filter r.customer"},
		{tag: true, script: fmt.Sprintf(pipe, fmt.Sprintf(`r._measurement == "orders" and (r.customer == %q or r.customer == %q)`, c1, c2)), refused: "on shards"},
	} {
		set := mset
		if c.tag {
			set = tset
		}
		got, err := newPlanner(set, "").fluxShard(c.script)
		if c.refused != "" {
			if err == nil || !strings.Contains(err.Error(), c.refused) || !strings.Contains(err.Error(), "from(bucket") {
				t.Errorf("%s: %v; want refused with %q", c.script, err, c.refused)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: shard %d, %v; want %d", c.script, got, err, c.want)
		}
	}
}

func TestFluxScript(t *testing.T) {
	if s, err := fluxScript("application/vnd.flux; charset=utf-8", []byte("from()")); err != nil || s != "from()" {
		t.Errorf("vnd.flux: %q %v", s, err)
	}
	if s, err := fluxScript("application/json", []byte(`{"query":"from()","type":"flux"}`)); err != nil || s != "from()" {
		t.Errorf("JSON: %q %v", s, err)
	}
	if _, err := fluxScript("", []byte("from()")); err == nil {
		t.Error("a Flux body without its Content-Type is read as JSON, as influxd reads it")
	}
}

func FuzzFluxShard(f *testing.F) {
	for _, s := range []string{
		`from(bucket: "db/autogen") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "m" and r.customer == "c")`,
		`from(bucket:"db") |> a.b.c |> filter(fn: (r) => (r["_measurement"] == "x" or "y" == r._measurement))`,
		`from(bucket: "db") |> x.`, `from(bucket: "db") |> a.b`, `"unterminated`, `|> =~ /`, `from(`, `filter(fn: (r) => ((`,
	} {
		f.Add(s)
	}
	set := testSet(f, "tag:customer", nil)
	f.Fuzz(func(t *testing.T, script string) {
		pos, err := newPlanner(set, "").fluxShard(script)
		if err == nil && (pos < 0 || pos > 1) {
			t.Fatalf("shard %d", pos)
		}
	})
}
