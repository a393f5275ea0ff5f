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

// seedTagged writes measurement orders with tag customer: values that
// need quoting in InfluxQL, series without the tag (one with a field
// named customer), in two retention policies, and a measurement whose name
// needs escaping; plus a continuous query.
func seedTagged(t testing.TB, s *testinflux.Server) {
	t.Helper()
	s.CreateDatabase(t, "db")
	s.Exec(t, `CREATE RETENTION POLICY "week" ON "db" DURATION 7d REPLICATION 1 SHARD DURATION 1d`)
	s.Exec(t, `CREATE CONTINUOUS QUERY "hourly" ON "db" BEGIN SELECT count("v") INTO "orders_hourly" FROM "orders" GROUP BY time(1h) END`)
	var lines, week []string
	customers := []string{`c1`, `it\'s`, `back\\slash`, `sp\ ace`}
	for h := 0; h < 10; h++ {
		for i, c := range customers {
			lines = append(lines, fmt.Sprintf("orders,customer=%s,region=eu v=%di,amount=%d.5 %d", c, h*10+i, h, ts(h, i)))
		}
		lines = append(lines, fmt.Sprintf("orders,region=us v=%di %d", h, ts(h, 50)),
			fmt.Sprintf(`orders customer="field, not tag",v=%di %d`, h, ts(h, 51)),
			fmt.Sprintf("my\\ m,customer=c1 x=%d %d", h, ts(h, 52)))
		week = append(week, fmt.Sprintf("orders,customer=c1 v=%di %d", 1000+h, ts(h, 53)),
			fmt.Sprintf("orders v=%di %d", 2000+h, ts(h, 54)))
	}
	s.Write(t, "db", "n", strings.Join(lines, "\n"))
	writeRP(t, s, "db", "week", strings.Join(week, "\n"))
}

// pointsWhere returns the points of db on s whose canonical form satisfies keep.
func pointsWhere(t testing.TB, s *testinflux.Server, keep func(string) bool) []string {
	t.Helper()
	var out []string
	for _, p := range s.Points(t, "db") {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// customerOf returns the customer tag of a canonical point ("" without).
func customerOf(p string) string {
	key, _, _ := strings.Cut(p, " ")
	for _, part := range strings.Split(key, ",")[1:] {
		if v, ok := strings.CutPrefix(part, "customer="); ok {
			return v
		}
	}
	return ""
}

// The scope operations of a tag-sharded rebalance: listing finds every tag
// value and the series without the tag; a copy takes exactly the scope's
// points, in every retention policy, with their types, to every target;
// the deletion removes exactly them; the schema copy brings the database,
// its policies and its continuous query.
func TestScopesCopyCompareDelete(t *testing.T) {
	eachVersion(t, func(t *testing.T, v testinflux.Version) {
		a := testinflux.Start(t, testinflux.Options{Version: v})
		b := testinflux.Start(t, testinflux.Options{Version: v})
		c := testinflux.Start(t, testinflux.Options{Version: v})
		seedTagged(t, a)
		ctx := context.Background()
		ca, cb, cc := backendOf(t, a, "a"), backendOf(t, b, "b"), backendOf(t, c, "c")
		o := ScopeOptions{BatchSize: 7, Recheck: 0}

		scopes, err := ListScopes(ctx, ca, "customer", o)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range scopes {
			got = append(got, s.String())
		}
		want := []string{`db.my m[customer=c1]`, `db.orders[no customer]`, `db.orders[customer=back\\slash]`,
			`db.orders[customer=c1]`, `db.orders[customer=it\'s]`, `db.orders[customer=sp ace]`}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("scopes:\n got %q\nwant %q", got, want)
		}

		for _, db := range []string{"db"} {
			ran, err := CopySchema(ctx, ca, cb, db, o, func(n string) { t.Log("note:", n) })
			if err != nil {
				t.Fatal(err)
			}
			if _, err := CopySchema(ctx, ca, cc, db, o, func(string) {}); err != nil {
				t.Fatal(err)
			}
			t.Logf("schema: %q", ran)
		}
		cqs := b.Query(t, "", "SHOW CONTINUOUS QUERIES")
		if !strings.Contains(string(cqs.Body), `"hourly"`) {
			t.Errorf("continuous query not copied: %s", cqs.Body)
		}
		if rps := b.Query(t, "", `SHOW RETENTION POLICIES ON "db"`); !strings.Contains(string(rps.Body), `["week","168h0m0s","24h0m0s",1,false]`) {
			t.Errorf("retention policy week not copied: %s", rps.Body)
		}

		for _, s := range scopes {
			if s.Measurement != "orders" || (s.Value != "" && s.Value != `it\'s`) {
				continue
			}
			res, err := CopyScope(ctx, ca, []*backend.Client{cb, cc}, s, o)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Remaining) > 0 || res.Points == 0 {
				t.Fatalf("copy of %s: %+v", s, res)
			}
			if diffs, err := CompareScope(ctx, []*backend.Client{ca, cb, cc}, s, o); err != nil || len(diffs) > 0 {
				t.Fatalf("compare %s after the copy: %v %v", s, diffs, err)
			}
		}
		moved := func(p string) bool {
			return strings.HasPrefix(p, "orders") || strings.HasPrefix(p, `"week".orders`)
		}
		inScope := func(p string) bool {
			return moved(p) && (customerOf(p) == "" || customerOf(p) == `it\'s`)
		}
		// it's: 10 points; no customer tag: 20 in autogen, 10 in week.
		wantB := pointsWhere(t, a, inScope)
		if len(wantB) != 40 {
			t.Fatalf("%d points in the scopes copied, want 40: %q", len(wantB), wantB)
		}
		for _, s := range []*testinflux.Server{b, c} {
			if gotB := s.Points(t, "db"); !slices.Equal(gotB, wantB) {
				t.Errorf("copied points:\n got %q\nwant %q", gotB, wantB)
			}
		}
		// The field named like the tag keeps its type and is not taken
		// for the tag.
		if !slices.ContainsFunc(wantB, func(p string) bool { return strings.Contains(p, `customer="field, not tag"`) }) {
			t.Errorf("the point with a field named customer is not in the no-customer scope: %q", wantB)
		}

		// b gains a point of one scope only: CoversScope sees a short
		// a, CompareScope a difference.
		noTag := Scope{Database: "db", Measurement: "orders", Tag: "customer"}
		b.Write(t, "db", "n", fmt.Sprintf("orders v=99i %d", ts(3, 59)))
		if short, err := CoversScope(ctx, cb, ca, noTag, o); err != nil || len(short) != 1 {
			t.Errorf("a covers b after b gained a point: %v %v", short, err)
		}
		if short, err := CoversScope(ctx, ca, cb, noTag, o); err != nil || len(short) != 0 {
			t.Errorf("b covers a: %v %v", short, err)
		}
		if n, err := CountScope(ctx, cb, noTag, o); err != nil || n != 31 {
			t.Errorf("CountScope = %d, %v; want 31 (10+10 in autogen and the new one, 10 in week)", n, err)
		}

		for _, s := range []Scope{noTag, {Database: "db", Measurement: "orders", Tag: "customer", Value: `it\'s`}} {
			q, err := DeleteScope(ctx, ca, s, o)
			if err != nil || q == "" {
				t.Fatalf("delete %s: %q %v", s, q, err)
			}
			if has, err := HasScope(ctx, ca, s, o); err != nil || has {
				t.Errorf("%s still on a after %s: %v", s, q, err)
			}
		}
		if gotA := a.Points(t, "db"); len(gotA) != 10*3+10+10 || slices.ContainsFunc(gotA, inScope) {
			t.Errorf("a after the deletes holds %d points, want the 50 of the other scopes: %q", len(gotA), gotA)
		}
		// A deleted key is no longer listed (SHOW TAG VALUES would still
		// list it).
		after, err := ListScopes(ctx, ca, "customer", o)
		if err != nil || len(after) != len(scopes)-2 || slices.ContainsFunc(after, func(s Scope) bool {
			return s.Measurement == "orders" && (s.Value == "" || s.Value == `it\'s`)
		}) {
			t.Errorf("scopes after the deletes: %v %v", after, err)
		}
		if q, err := DeleteScope(ctx, ca, Scope{Database: "db", Measurement: "my m"}, o); err != nil || q != `DROP MEASUREMENT "my m"` {
			t.Errorf("drop: %q %v", q, err)
		}
		if q, err := DeleteScope(ctx, ca, Scope{Database: "db", Measurement: "my m"}, o); err != nil || q != "" {
			t.Errorf("drop again: %q %v; want nothing to do", q, err)
		}
	})
}
