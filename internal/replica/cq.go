package replica

import (
	"context"
	"slices"
	"strings"

	"github.com/influxdata/influxql"

	"github.com/influxgate/influxgate/internal/backend"
)

// cqTargets tells which measurements continuous queries write to, as the
// backends list them: a difference in one of them is named as such in a
// verify report, since it comes from continuous-query results rather than
// from written data (after an outage, see docs/delivery.md).
type cqTargets struct {
	// byTarget maps "db\x00rp\x00measurement" to the queries writing there;
	// rp "" stands for the database's default policy, which the INTO
	// clause left out, and measurement "" for a :MEASUREMENT back-reference
	// (any measurement of that policy).
	byTarget map[string][]string
}

// loadCQTargets reads every backend's continuous queries. A backend that
// cannot list them is skipped: naming is a help, not the comparison.
func loadCQTargets(ctx context.Context, bs []*server) cqTargets {
	t := cqTargets{byTarget: map[string][]string{}}
	for _, b := range bs {
		res, err := b.query(ctx, "", "SHOW CONTINUOUS QUERIES")
		if err != nil {
			continue
		}
		t.add(res)
	}
	return t
}

func (t *cqTargets) add(res backend.QueryResult) {
	for _, s := range res.Series {
		for _, row := range s.Values {
			if len(row) < 2 {
				continue
			}
			text, _ := row[1].(string)
			st, err := influxql.ParseStatement(text)
			cq, ok := st.(*influxql.CreateContinuousQueryStatement)
			if err != nil || !ok || cq.Source.Target == nil || cq.Source.Target.Measurement == nil {
				continue
			}
			m := cq.Source.Target.Measurement
			db := cmpOr(m.Database, cq.Database)
			// A :MEASUREMENT back-reference parses to an empty name.
			k := db + "\x00" + m.RetentionPolicy + "\x00" + m.Name
			if label := cq.Database + "." + cq.Name; !slices.Contains(t.byTarget[k], label) {
				t.byTarget[k] = append(t.byTarget[k], label)
			}
		}
	}
}

// of returns the continuous queries that write to db.rp.m, if any.
func (t cqTargets) of(db, rp, m string) []string {
	var out []string
	for _, k := range []string{db + "\x00" + rp + "\x00" + m, db + "\x00\x00" + m,
		db + "\x00" + rp + "\x00", db + "\x00\x00"} {
		for _, q := range t.byTarget[k] {
			if !slices.Contains(out, q) {
				out = append(out, q)
			}
		}
	}
	return out
}

// name marks the differences in continuous-query targets.
func (t cqTargets) name(diffs []Difference) {
	for i := range diffs {
		d := &diffs[i]
		if d.Measurement == "" {
			continue
		}
		if qs := t.of(d.Database, d.RetentionPolicy, d.Measurement); len(qs) > 0 {
			d.CQ = strings.Join(qs, ", ")
			d.Detail += " [continuous query target of " + d.CQ + "]"
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
