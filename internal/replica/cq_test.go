package replica

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/testinflux"
)

func TestCQTargetsNameTheMeasurementsContinuousQueriesWrite(t *testing.T) {
	var ts cqTargets
	ts.byTarget = map[string][]string{}
	ts.add(backend.QueryResult{Series: []backend.Series{{Name: "db", Values: [][]any{
		{"down", `CREATE CONTINUOUS QUERY down ON db BEGIN SELECT mean(v) INTO m_1m FROM m GROUP BY time(1m) END`},
		{"all", `CREATE CONTINUOUS QUERY "all" ON db BEGIN SELECT mean(*) INTO db.week.:MEASUREMENT FROM /.*/ GROUP BY time(1h), * END`},
		{"other", `CREATE CONTINUOUS QUERY other ON db BEGIN SELECT count(v) INTO other.autogen.n FROM m GROUP BY time(1m) END`},
	}}}})
	diffs := []Difference{
		{Kind: KindData, Database: "db", RetentionPolicy: "autogen", Measurement: "m_1m"},
		{Kind: KindData, Database: "db", RetentionPolicy: "week", Measurement: "cpu"},
		{Kind: KindData, Database: "other", RetentionPolicy: "autogen", Measurement: "n"},
		{Kind: KindData, Database: "db", RetentionPolicy: "autogen", Measurement: "m"},
		{Kind: KindDatabase, Database: "db"},
	}
	ts.name(diffs)
	var got []string
	for _, d := range diffs {
		got = append(got, d.CQ)
	}
	if want := []string{"db.down", "db.all", "db.other", "", ""}; !slices.Equal(got, want) {
		t.Errorf("continuous queries named %q, want %q", got, want)
	}
}

// Verify names a difference in a continuous query's target as such.
func TestVerifyNamesContinuousQueryTargets(t *testing.T) {
	a := testinflux.Start(t, testinflux.Options{})
	b := testinflux.Start(t, testinflux.Options{})
	for _, s := range []*testinflux.Server{a, b} {
		s.CreateDatabase(t, "db")
		s.Exec(t, `CREATE CONTINUOUS QUERY down ON db BEGIN SELECT mean(v) AS v INTO m_1h FROM m GROUP BY time(1h) END`)
		s.Write(t, "db", "n", fmt.Sprintf("m v=1 %d", ts(1, 0)))
	}
	a.Write(t, "db", "n", fmt.Sprintf("m_1h v=1 %d", ts(1, 0)))
	b.Write(t, "db", "n", fmt.Sprintf("m_1h v=2 %d", ts(1, 0)))
	rep, err := Verify(context.Background(), VerifyOptions{Backends: []*backend.Client{backendOf(t, a, "a"), backendOf(t, b, "b")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Differences) != 1 || rep.Differences[0].Measurement != "m_1h" || rep.Differences[0].CQ != "db.down" ||
		!strings.Contains(rep.Differences[0].Detail, "continuous query target of db.down") {
		t.Errorf("differences %+v, want m_1h named as db.down's target", rep.Differences)
	}
}
