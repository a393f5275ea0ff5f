package backfill

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
)

// fakeQuerier is a backend that lists the given continuous queries and
// retention policies and records the statements it runs.
type fakeQuerier struct {
	cqs  map[string][][2]string // db -> [name, query]
	rps  map[string][][]any     // db -> rows of name, duration, shardGroupDuration, replicaN, default
	ran  []string
	fail error
}

func (f *fakeQuerier) Query(_ context.Context, db, q string) (backend.QueryResult, error) {
	var res backend.QueryResult
	switch {
	case q == "SHOW CONTINUOUS QUERIES":
		for d, list := range f.cqs {
			s := backend.Series{Name: d, Columns: []string{"name", "query"}}
			for _, c := range list {
				s.Values = append(s.Values, []any{c[0], c[1]})
			}
			res.Series = append(res.Series, s)
		}
	case strings.HasPrefix(q, "SHOW RETENTION POLICIES"):
		res.Series = []backend.Series{{Columns: []string{"name", "duration", "shardGroupDuration", "replicaN", "default"}, Values: f.rps[db]}}
	}
	return res, nil
}

func (f *fakeQuerier) ExecStatement(_ context.Context, db, q string) error {
	if f.fail != nil {
		return f.fail
	}
	f.ran = append(f.ran, db+": "+q)
	return nil
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func ns(d time.Duration) int64 { return t0.Add(d).UnixNano() }

func rfc(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }

func testRunner(cqs map[string][][2]string, now time.Duration) (*Runner, *fakeQuerier) {
	f := &fakeQuerier{cqs: cqs, rps: map[string][][]any{
		"db": {{"autogen", "0s", "168h0m0s", 1, true}, {"week", "168h0m0s", "24h0m0s", 1, false}},
	}}
	r := NewRunner(f)
	r.now = func() time.Time { return t0.Add(now) }
	return r, f
}

func TestRunRecomputesTheWholeIntervalsTheLatePointsTouch(t *testing.T) {
	cqs := map[string][][2]string{"db": {
		{"plain", `CREATE CONTINUOUS QUERY plain ON db BEGIN SELECT mean(v) INTO db.autogen.m_10m FROM db.autogen.m GROUP BY time(10m) END`},
		{"offset", `CREATE CONTINUOUS QUERY "offset" ON db BEGIN SELECT max(v) INTO m_1h FROM m GROUP BY time(1h, 15m), host END`},
		{"rs", `CREATE CONTINUOUS QUERY rs ON db RESAMPLE EVERY 1m FOR 30m BEGIN SELECT count(v) INTO other.autogen.m_5m FROM m GROUP BY time(5m) END`},
		{"regex", `CREATE CONTINUOUS QUERY regex ON db BEGIN SELECT mean(*) INTO db.week.:MEASUREMENT FROM /.*/ GROUP BY time(30m), * END`},
		{"weekonly", `CREATE CONTINUOUS QUERY weekonly ON db BEGIN SELECT sum(v) INTO s FROM db.week.m GROUP BY time(10m) END`},
	}}
	r, f := testRunner(cqs, 3*time.Hour)
	// Late points from 12:07:30 to 13:02:00 in the default policy.
	res, err := r.Run(context.Background(), Spec{Ranges: []Range{{DB: "db", From: ns(7*time.Minute + 30*time.Second), To: ns(62 * time.Minute)}}})
	if err != nil || len(res.Failed) > 0 {
		t.Fatalf("Run: %v %v", err, res.Failed)
	}
	want := []string{
		// [12:00, 13:10): the 10-minute intervals holding 12:07:30 and 13:02.
		fmt.Sprintf(`db: SELECT mean(v) INTO db.autogen.m_10m FROM db.autogen.m WHERE time >= '%s' AND time < '%s' GROUP BY time(10m)`, rfc(0), rfc(70*time.Minute)),
		// Offset 15m: [11:15, 13:15).
		fmt.Sprintf(`db: SELECT max(v) INTO m_1h FROM m WHERE time >= '%s' AND time < '%s' GROUP BY time(1h, 15m), host`, rfc(-45*time.Minute), rfc(75*time.Minute)),
		// RESAMPLE does not change which intervals the points touch.
		fmt.Sprintf(`db: SELECT count(v) INTO other.autogen.m_5m FROM m WHERE time >= '%s' AND time < '%s' GROUP BY time(5m)`, rfc(5*time.Minute), rfc(65*time.Minute)),
		fmt.Sprintf(`db: SELECT mean(*) INTO db.week.:MEASUREMENT FROM /.*/ WHERE time >= '%s' AND time < '%s' GROUP BY time(30m), *`, rfc(0), rfc(90*time.Minute)),
	}
	slices.Sort(want)
	slices.Sort(f.ran)
	if !slices.Equal(f.ran, want) {
		t.Errorf("statements run:\n%s\nwant:\n%s", strings.Join(f.ran, "\n"), strings.Join(want, "\n"))
	}
	if res.Statements != 4 || res.Intervals != 7+2+12+3 {
		t.Errorf("result %+v", res)
	}
}

func TestRunLimits(t *testing.T) {
	cq := map[string][][2]string{"db": {{"cq", `CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT mean(v) INTO m_10m FROM week.m GROUP BY time(10m) END`}}}
	late := []Range{{DB: "db", RP: "week", From: ns(-10 * 24 * time.Hour), To: ns(95 * time.Minute)}}
	cases := []struct {
		name       string
		spec       Spec
		now        time.Duration
		start, end time.Duration
		skipped    int64
	}{
		// Only intervals that have ended, and whose data the 168h policy
		// still holds; what is older is counted as skipped.
		{"retention and now", Spec{Ranges: late}, 97 * time.Minute, 97*time.Minute - 168*time.Hour + 3*time.Minute, 90 * time.Minute, 442},
		// A query created during the outage: from the interval of its creation.
		{"created", Spec{Ranges: late, Created: []CQRef{{DB: "db", Name: "cq", At: ns(33 * time.Minute)}}}, 3 * time.Hour, 30 * time.Minute, 100 * time.Minute, 0},
		// A query about to be dropped: intervals that ended before the drop.
		{"dropping", Spec{Ranges: late[:1], Dropping: &CQRef{DB: "db", Name: "cq", At: ns(47 * time.Minute)}}, 3 * time.Hour,
			-10*24*time.Hour + 0, 40 * time.Minute, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, f := testRunner(cq, c.now)
			r.maxIntervals = 1 << 30
			if c.name == "dropping" {
				f.rps["db"][1][1] = "0s" // no retention: see the whole range
			}
			res, err := r.Run(context.Background(), c.spec)
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf(`db: SELECT mean(v) INTO m_10m FROM week.m WHERE time >= '%s' AND time < '%s' GROUP BY time(10m)`, rfc(c.start), rfc(c.end))
			if len(f.ran) != 1 || f.ran[0] != want || res.Skipped != c.skipped {
				t.Errorf("ran %q, skipped %d\nwant %q, skipped %d", f.ran, res.Skipped, want, c.skipped)
			}
		})
	}
}

func TestRunSplitsLongOutagesAndRetriesPassingFailures(t *testing.T) {
	cq := map[string][][2]string{"db": {{"cq", `CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT mean(v) INTO m_1m FROM m GROUP BY time(1m) END`}}}
	r, f := testRunner(cq, 48*time.Hour)
	r.maxIntervals = 100
	res, err := r.Run(context.Background(), Spec{Ranges: []Range{{DB: "db", From: ns(0), To: ns(250*time.Minute - time.Second)}}})
	if err != nil || len(f.ran) != 3 || res.Intervals != 250 {
		t.Errorf("%d statements for 250 intervals of at most 100 (%v), intervals %d", len(f.ran), err, res.Intervals)
	}
	f.fail = &backend.Error{Class: backend.Transient, Reason: "connection", Err: fmt.Errorf("refused")}
	if _, err := r.Run(context.Background(), Spec{Ranges: []Range{{DB: "db", From: ns(0), To: ns(time.Minute)}}}); err == nil {
		t.Error("a passing failure was not returned (the record would not be run again)")
	}
	f.fail = &backend.Error{Class: backend.Rejected, Reason: "statement_error", Err: fmt.Errorf("field type conflict")}
	res, err = r.Run(context.Background(), Spec{Ranges: []Range{{DB: "db", From: ns(0), To: ns(time.Minute)}}})
	if err != nil || len(res.Failed) != 1 {
		t.Errorf("a refused statement: err %v, failed %v; want it reported and the run done", err, res.Failed)
	}
}

func TestRunReportsAContinuousQueryItCannotParse(t *testing.T) {
	cq := map[string][][2]string{"db": {{"resample", `CREATE CONTINUOUS QUERY resample ON db BEGIN SELECT mean(v) INTO x FROM m GROUP BY time(1m) END`}}}
	r, _ := testRunner(cq, time.Hour)
	res, err := r.Run(context.Background(), Spec{Ranges: []Range{{DB: "db", From: ns(0), To: ns(time.Minute)}}})
	if err != nil || len(res.Failed) != 1 || !strings.Contains(res.Failed[0], "db.resample: cannot parse") {
		t.Errorf("err %v, failed %q", err, res.Failed)
	}
}

// A query with RESAMPLE FOR computes, at its first run, intervals back to
// FOR before it: that is where the recomputation of a query created
// during the outage starts. Before a drop, RESAMPLE EVERY shortens the
// last window.
func TestRunFollowsResampleAtCreateAndDrop(t *testing.T) {
	cq := map[string][][2]string{"db": {{"cq", `CREATE CONTINUOUS QUERY cq ON db RESAMPLE EVERY 5m FOR 30m BEGIN SELECT mean(v) INTO m_10m FROM m GROUP BY time(10m) END`}}}
	late := []Range{{DB: "db", From: ns(-2 * time.Hour), To: ns(2 * time.Hour)}}
	r, f := testRunner(cq, 3*time.Hour)
	if _, err := r.Run(context.Background(), Spec{Ranges: late, Created: []CQRef{{DB: "db", Name: "cq", At: ns(33 * time.Minute)}}}); err != nil {
		t.Fatal(err)
	}
	// First run at 12:33: [align(12:33 + 10m - 30m), ...) = [12:10, ...).
	want := fmt.Sprintf(`db: SELECT mean(v) INTO m_10m FROM m WHERE time >= '%s' AND time < '%s' GROUP BY time(10m)`, rfc(10*time.Minute), rfc(130*time.Minute))
	if len(f.ran) != 1 || f.ran[0] != want {
		t.Errorf("created: ran %q\nwant %q", f.ran, want)
	}
	r, f = testRunner(cq, 3*time.Hour)
	if _, err := r.Run(context.Background(), Spec{Ranges: late, Dropping: &CQRef{DB: "db", Name: "cq", At: ns(33 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	// Last run before 12:33 ended at align(12:33 + 10m - 5m) = 12:30.
	want = fmt.Sprintf(`db: SELECT mean(v) INTO m_10m FROM m WHERE time >= '%s' AND time < '%s' GROUP BY time(10m)`, rfc(-2*time.Hour), rfc(30*time.Minute))
	if len(f.ran) != 1 || f.ran[0] != want {
		t.Errorf("dropping: ran %q\nwant %q", f.ran, want)
	}
}
