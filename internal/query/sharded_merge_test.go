package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/influxdata/influxql"
)

// decodeParts reads shard results written as InfluxDB's JSON.
func decodeParts(t testing.TB, results ...string) []part {
	t.Helper()
	var parts []part
	for i, r := range results {
		resp, err := decodeAnswer(strings.NewReader(`{"results":[` + r + `]}`))
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		parts = append(parts, part{shard: fmt.Sprintf("s%d", i+1), res: resp.Results[0]})
	}
	return parts
}

func encode(t testing.TB, res *result) string {
	t.Helper()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func selectPlan(t testing.TB, q string, mode mergeMode) *stmtPlan {
	t.Helper()
	st, err := influxql.ParseStatement(q)
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*influxql.SelectStatement)
	return &stmtPlan{stmt: s, mode: mode, fields: s.Fields, desc: descending(s), limit: s.Limit, offset: s.Offset, tagUnion: hasTagUnion(s)}
}

func TestMerge(t *testing.T) {
	agg := func(q string) *stmtPlan {
		set := testSet(t, "tag:k", nil)
		sp, err := planOne(t, newPlanner(set, "db"), q)
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	for _, c := range []struct {
		name  string
		plan  *stmtPlan
		parts []string
		want  string
	}{
		{"series in InfluxDB's order, by name then tags",
			selectPlan(t, "SELECT v FROM a, b GROUP BY h", mergeSeries),
			[]string{`{"statement_id":0,"series":[{"name":"b","tags":{"h":"1"},"columns":["time","v"],"values":[[1,1]]}]}`,
				`{"statement_id":0,"series":[{"name":"a","tags":{"h":"2"},"columns":["time","v"],"values":[[2,2]]},{"name":"b","tags":{"h":""},"columns":["time","v"],"values":[[3,3]]}]}`},
			`{"statement_id":0,"series":[{"name":"a","tags":{"h":"2"},"columns":["time","v"],"values":[[2,2]]},{"name":"b","tags":{"h":""},"columns":["time","v"],"values":[[3,3]]},{"name":"b","tags":{"h":"1"},"columns":["time","v"],"values":[[1,1]]}]}`},
		{"reversed for ORDER BY time DESC",
			selectPlan(t, "SELECT v FROM a, b ORDER BY time DESC", mergeSeries),
			[]string{`{"statement_id":0,"series":[{"name":"a","columns":["time","v"],"values":[[1,1]]}]}`,
				`{"statement_id":0,"series":[{"name":"b","columns":["time","v"],"values":[[2,2]]}]}`},
			`{"statement_id":0,"series":[{"name":"b","columns":["time","v"],"values":[[2,2]]},{"name":"a","columns":["time","v"],"values":[[1,1]]}]}`},
		{"the columns of a wildcard are the sorted union; GROUP BY * unites the tag keys",
			selectPlan(t, "SELECT * FROM a, b GROUP BY *", mergeSeries),
			[]string{`{"statement_id":0,"series":[{"name":"a","tags":{"x":"1"},"columns":["time","p","r"],"values":[[1,1,"r"]]}]}`,
				`{"statement_id":0,"series":[{"name":"b","tags":{"y":"2"},"columns":["time","q"],"values":[[2,true]]}]}`},
			`{"statement_id":0,"series":[{"name":"a","tags":{"x":"1","y":""},"columns":["time","p","q","r"],"values":[[1,1,null,"r"]]},{"name":"b","tags":{"x":"","y":"2"},"columns":["time","p","q","r"],"values":[[2,null,true,null]]}]}`},
		{"a wildcard between named fields",
			selectPlan(t, "SELECT a, /x/, b FROM m, n", mergeSeries),
			[]string{`{"statement_id":0,"series":[{"name":"m","columns":["time","a","x1","b"],"values":[[1,1,2,3]]}]}`,
				`{"statement_id":0,"series":[{"name":"n","columns":["time","a","x0","x2","b"],"values":[[2,4,5,6,7]]}]}`},
			`{"statement_id":0,"series":[{"name":"m","columns":["time","a","x0","x1","x2","b"],"values":[[1,1,null,2,null,3]]},{"name":"n","columns":["time","a","x0","x1","x2","b"],"values":[[2,4,5,null,6,7]]}]}`},
		{"rows by time, LIMIT and OFFSET after the merge",
			selectPlan(t, "SELECT v FROM a LIMIT 3 OFFSET 1", mergeRows),
			[]string{`{"statement_id":0,"series":[{"name":"a","columns":["time","v"],"values":[[1,1],[4,4],[5,5]]}]}`,
				`{"statement_id":0,"series":[{"name":"a","columns":["time","v"],"values":[[2,2],[3,3],[9,9]]}]}`},
			`{"statement_id":0,"series":[{"name":"a","columns":["time","v"],"values":[[2,2],[3,3],[4,4]]}]}`},
		{"rows by time descending",
			selectPlan(t, "SELECT v FROM a ORDER BY time DESC", mergeRows),
			[]string{`{"statement_id":0,"series":[{"name":"a","columns":["time","v"],"values":[[5,5],[1,1]]}]}`,
				`{"statement_id":0,"series":[{"name":"a","columns":["time","v"],"values":[[3,3]]}]}`},
			`{"statement_id":0,"series":[{"name":"a","columns":["time","v"],"values":[[5,5],[3,3],[1,1]]}]}`},
		{"an OFFSET past every row leaves no series",
			selectPlan(t, "SELECT v FROM a OFFSET 5", mergeRows),
			[]string{`{"statement_id":0,"series":[{"name":"a","columns":["time","v"],"values":[[1,1]]}]}`,
				`{"statement_id":0,"series":[{"name":"a","columns":["time","v"],"values":[[3,3]]}]}`},
			`{"statement_id":0}`},
		{"count, sum, min, max and mean per bucket; nulls and missing buckets",
			agg("SELECT count(v), sum(v), min(v), max(v), mean(v), sum(i) FROM a GROUP BY time(1m) fill(null)"),
			[]string{`{"statement_id":0,"series":[{"name":"a","columns":["time","c","s","mn","mx","ms","mc","i"],"values":[[0,2,3.5,1,2.5,3.5,2,7],[60,0,null,null,null,null,0,null]]}]}`,
				`{"statement_id":0,"series":[{"name":"a","columns":["time","c","s","mn","mx","ms","mc","i"],"values":[[0,1,0.5,0.5,0.5,0.5,1,2],[120,3,3,1,1,3,3,5]]}]}`},
			`{"statement_id":0,"series":[{"name":"a","columns":["time","count","sum","min","max","mean","sum_1"],"values":[[0,3,4,0.5,2.5,1.3333333333333333,9],[60,0,null,null,null,null,null],[120,3,3,1,1,1,5]]}]}`},
		{"a selector keeps the row of its point; on a tie the earlier one",
			agg("SELECT max(v), host FROM a"),
			[]string{`{"statement_id":0,"series":[{"name":"a","columns":["time","max","host"],"values":[[50,7,"x"]]}]}`,
				`{"statement_id":0,"series":[{"name":"a","columns":["time","max","host"],"values":[[20,7,"y"]]}]}`},
			`{"statement_id":0,"series":[{"name":"a","columns":["time","max","host"],"values":[[20,7,"y"]]}]}`},
		{"SHOW lists: union, sorted, de-duplicated, then LIMIT and OFFSET",
			&stmtPlan{mode: mergeShowList, limit: 2, offset: 1},
			[]string{`{"statement_id":0,"series":[{"name":"measurements","columns":["name"],"values":[["b"],["d"]]}]}`,
				`{"statement_id":0,"series":[{"name":"measurements","columns":["name"],"values":[["a"],["b"],["c"]]}]}`},
			`{"statement_id":0,"series":[{"name":"measurements","columns":["name"],"values":[["b"],["c"]]}]}`},
		{"SHOW per measurement: each list on its own",
			&stmtPlan{mode: mergeShowPerName, limit: 1, offset: 1},
			[]string{`{"statement_id":0,"series":[{"name":"m","columns":["key","value"],"values":[["h","1"],["h","3"]]},{"name":"z","columns":["key","value"],"values":[["h","1"]]}]}`,
				`{"statement_id":0,"series":[{"name":"m","columns":["key","value"],"values":[["h","2"],["h","3"]]},{"name":"a","columns":["key","value"],"values":[["h","1"],["r","x"]]}]}`},
			`{"statement_id":0,"series":[{"name":"a","columns":["key","value"],"values":[["r","x"]]},{"name":"m","columns":["key","value"],"values":[["h","2"]]}]}`},
		{"cardinalities of disjoint sets add up",
			&stmtPlan{mode: mergeSum},
			[]string{`{"statement_id":0,"series":[{"name":"b","columns":["count"],"values":[[3]]},{"name":"a","columns":["count"],"values":[[1]]}]}`,
				`{"statement_id":0,"series":[{"name":"a","columns":["count"],"values":[[4]]}]}`},
			`{"statement_id":0,"series":[{"name":"a","columns":["count"],"values":[[5]]},{"name":"b","columns":["count"],"values":[[3]]}]}`},
		{"an error of a shard is the answer",
			&stmtPlan{mode: mergeSeries},
			[]string{`{"statement_id":0,"series":[{"name":"a","columns":["x"],"values":[[1]]}]}`, `{"statement_id":0,"error":"database not found: db"}`},
			`{"statement_id":0,"error":"database not found: db"}`},
	} {
		got, err := merge(c.plan, decodeParts(t, c.parts...), nil)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if g := encode(t, got); g != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, g, c.want)
		}
	}
}

func TestMergeRefusesColumnsItCannotTell(t *testing.T) {
	sp := selectPlan(t, "SELECT /a/, /b/ FROM m, n", mergeSeries)
	parts := decodeParts(t, `{"statement_id":0,"series":[{"name":"m","columns":["time","a1","b1"],"values":[[1,1,2]]}]}`,
		`{"statement_id":0,"series":[{"name":"n","columns":["time","a2"],"values":[[2,4]]}]}`)
	_, err := merge(sp, parts, nil)
	if err == nil || !strings.Contains(err.Error(), "several wildcards") {
		t.Errorf("two regexes, different columns: %v", err)
	}
}

func TestMergeLeavesStraysOut(t *testing.T) {
	sp := selectPlan(t, "SELECT v FROM a, b", mergeSeries)
	parts := decodeParts(t, `{"statement_id":0,"series":[{"name":"a","columns":["time","v"],"values":[[1,1]]}]}`,
		`{"statement_id":0,"series":[{"name":"a","columns":["time","v"],"values":[[1,1]]},{"name":"b","columns":["time","v"],"values":[[2,2]]}]}`)
	got, err := merge(sp, parts, func(shard string, s *series) bool { return !(shard == "s2" && s.Name == "a") })
	if err != nil {
		t.Fatal(err)
	}
	if g, want := encode(t, got), `{"statement_id":0,"series":[{"name":"a","columns":["time","v"],"values":[[1,1]]},{"name":"b","columns":["time","v"],"values":[[2,2]]}]}`; g != want {
		t.Errorf("got %s\nwant %s", g, want)
	}
}

// The chunks of a merged answer are cut as influxd's emitter cuts them.
func TestChunks(t *testing.T) {
	resp, _ := decodeAnswer(strings.NewReader(`{"results":[{"statement_id":3,"series":[{"name":"a","columns":["time","v"],"values":[[1,1],[2,2],[3,3]]},{"name":"b","columns":["time","v"],"values":[[4,4]]}]}]}`))
	a := &answer{res: resp.Results[0], style: chunkRows}
	var got []string
	for _, c := range a.chunks(2) {
		got = append(got, encode(t, c))
	}
	want := []string{
		`{"statement_id":3,"series":[{"name":"a","columns":["time","v"],"values":[[1,1],[2,2]],"partial":true}],"partial":true}`,
		`{"statement_id":3,"series":[{"name":"a","columns":["time","v"],"values":[[3,3]]}],"partial":true}`,
		`{"statement_id":3,"series":[{"name":"b","columns":["time","v"],"values":[[4,4]]}]}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("chunks:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A chunked answer read back is the whole answer.
	var stream bytes.Buffer
	for _, c := range want {
		stream.WriteString(`{"results":[` + c + "]}\n")
	}
	back, err := decodeAnswer(&stream)
	if err != nil || encode(t, back.Results[0]) != `{"statement_id":3,"series":[{"name":"a","columns":["time","v"],"values":[[1,1],[2,2],[3,3]]},{"name":"b","columns":["time","v"],"values":[[4,4]]}]}` {
		t.Errorf("chunks read back: %v %s", err, encode(t, back.Results[0]))
	}
}

func TestCSVValues(t *testing.T) {
	var b bytes.Buffer
	cw := &csvWriter{statementID: -1}
	resp, _ := decodeAnswer(strings.NewReader(`{"results":[{"statement_id":0,"series":[{"name":"m","tags":{"a":"x y","b":""},"columns":["time","f","i","s","n"],"values":[[1,1e-07,3,"q,\"r",null]]}]},{"statement_id":1,"series":[{"name":"m","columns":["time","c"],"values":[[0,2.5]]}]}]}`))
	resp.Results[1].Series[0].Values[0][1] = 2.5e21 // computed by influxgate
	if err := cw.write(&b, resp); err != nil {
		t.Fatal(err)
	}
	want := "name,tags,time,f,i,s,n\nm,a=x\\ y,1,0.0000001,3,\"q,\"\"r\",\n\nname,tags,time,c\nm,,0,2500000000000000000000\n"
	if b.String() != want {
		t.Errorf("CSV:\n%q\nwant\n%q", b.String(), want)
	}
}

func BenchmarkMerge(b *testing.B) {
	const rows = 20000
	shardAnswer := func(offset int) string {
		var sb strings.Builder
		sb.WriteString(`{"statement_id":0,"series":[{"name":"orders","columns":["time","c","s","ms","mc"],"values":[`)
		for i := 0; i < rows; i++ {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "[%d,%d,%d.25,%d.5,%d]", int64(i)*60e9, i%7+offset, i, i, i%7+1)
		}
		sb.WriteString("]}]}")
		return sb.String()
	}
	answers := []string{shardAnswer(0), shardAnswer(1)}
	set := testSet(b, "tag:k", nil)
	sp, err := newPlanner(set, "db").plan(mustParse(b, "SELECT count(v), sum(v), mean(v) FROM orders GROUP BY time(1m)"))
	if err != nil {
		b.Fatal(err)
	}
	rawPlan := selectPlan(b, "SELECT c, s, ms, mc FROM orders", mergeRows)
	for _, c := range []struct {
		name string
		plan *stmtPlan
	}{{"aggregate", sp}, {"rows", rawPlan}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(answers[0]) + len(answers[1])))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				parts := decodeParts(b, answers...)
				if _, err := merge(c.plan, parts, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustParse(t testing.TB, q string) influxql.Statement {
	t.Helper()
	st, err := influxql.ParseStatement(q)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
