package replica

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/influxgate/influxgate/internal/backend"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Backends are the replicas to compare (at least two), each reached
	// with its output's own credentials.
	Backends []*backend.Client
	// Database limits the comparison to one database; "" compares every
	// database but _internal.
	Database string
	// Start and End limit the data compared to [Start, End); a zero value
	// leaves that side open (from the first point, to the last).
	Start, End time.Time
	// Bucket is the length of a time bucket (default 1h).
	Bucket time.Duration
	// Concurrency bounds the queries in flight to each backend (default 2).
	Concurrency int
	// Recheck is how long to wait before comparing once more the buckets
	// that differ, so that writes still on their way to one replica do not
	// count as differences; 0 reports the first comparison.
	Recheck time.Duration
	// Requests tune each request: its timeout and retries.
	Requests Requests
}

func (o *VerifyOptions) defaults() error {
	if len(o.Backends) < 2 {
		return errors.New("verify needs at least two backends")
	}
	if o.Bucket <= 0 {
		o.Bucket = time.Hour
	}
	if o.Bucket > maxBucket {
		return fmt.Errorf("bucket %v is longer than %v", o.Bucket, maxBucket)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	o.Requests.defaults()
	if !o.Start.IsZero() && !o.End.IsZero() && !o.Start.Before(o.End) {
		return fmt.Errorf("start %s is not before end %s", o.Start.Format(time.RFC3339Nano), o.End.Format(time.RFC3339Nano))
	}
	return nil
}

// maxBucket keeps a window of buckets within int64 nanoseconds.
const maxBucket = 100 * 365 * 24 * time.Hour

// The kinds of Difference.
const (
	KindDatabase        = "database"
	KindRetentionPolicy = "retention-policy"
	KindMeasurement     = "measurement"
	KindFields          = "fields"
	KindData            = "data"
)

// Difference is one way in which the replicas disagree.
type Difference struct {
	Kind            string // one of the Kind constants
	Database        string
	RetentionPolicy string    // "" for database and measurement differences
	Measurement     string    // "" above the measurement level
	Bucket          time.Time // start of the time bucket (KindData only)
	Detail          string    // what differs, naming the backends
	// CQ names the continuous queries that write this measurement, when it
	// is one's target ("db.name, ..."); "" otherwise.
	CQ string
}

// Report is the outcome of Verify.
type Report struct {
	Backends     []string // the backends' names, in the order of Detail values
	Measurements int      // retention policy and measurement pairs compared
	Buckets      int      // non-empty time buckets compared
	Differences  []Difference
}

// Agree reports whether no difference was found.
func (r *Report) Agree() bool { return len(r.Differences) == 0 }

// WriteTable writes the differences as an aligned table.
func (r *Report) WriteTable(w io.Writer) error {
	return writeDifferences(w, r.Differences)
}

func writeDifferences(w io.Writer, diffs []Difference) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tDATABASE\tRP\tMEASUREMENT\tBUCKET\tDETAIL")
	dash := func(s string) string { return cmp.Or(s, "-") }
	for _, d := range diffs {
		b := "-"
		if !d.Bucket.IsZero() {
			b = d.Bucket.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Kind, dash(d.Database), dash(d.RetentionPolicy), dash(d.Measurement), b, d.Detail)
	}
	return tw.Flush()
}

// unit is one measurement of one retention policy, compared (or copied)
// bucket by bucket.
type unit struct {
	db, rp, m string
	members   []int               // the backends taking part
	listing   []int               // the backends whose SHOW MEASUREMENTS lists m
	types     map[string][]string // field types, for rendering and float sums
	rng       span                // the data's time range
	// cond limits the unit to some of m's series (a Scope's tag
	// condition); "" takes them all.
	cond string
}

// Verify compares the replicas: databases, retention policies (name,
// duration, default flag), measurements, each measurement's fields and
// their types per retention policy, and per time bucket each field's count,
// sum, minimum and maximum. It returns an error only when it could not
// compare (a backend is down, a query failed).
func Verify(ctx context.Context, o VerifyOptions) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	v := &verifier{o: o, bs: newServers(o.Backends, o.Concurrency, o.Requests), rep: &Report{}}
	for _, b := range v.bs {
		v.rep.Backends = append(v.rep.Backends, b.Name)
	}
	units, err := v.schema(ctx)
	if err != nil {
		return nil, err
	}
	if units, err = v.fields(ctx, units); err != nil {
		return nil, err
	}
	if err := v.data(ctx, units); err != nil {
		return nil, err
	}
	loadCQTargets(ctx, v.bs).name(v.rep.Differences)
	slices.SortStableFunc(v.rep.Differences, func(a, b Difference) int {
		return cmp.Or(strings.Compare(a.Database, b.Database), strings.Compare(a.RetentionPolicy, b.RetentionPolicy),
			strings.Compare(a.Measurement, b.Measurement), a.Bucket.Compare(b.Bucket))
	})
	return v.rep, nil
}

type verifier struct {
	o   VerifyOptions
	bs  []*server // o.Backends
	mu  sync.Mutex
	rep *Report
}

func (v *verifier) add(d Difference) {
	v.mu.Lock()
	v.rep.Differences = append(v.rep.Differences, d)
	v.mu.Unlock()
}

// eachBackend runs fn for each of the backends idx at once.
func eachBackend(ctx context.Context, idx []int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, i := range idx {
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}

func all(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// names lists the names of the backends idx.
func (v *verifier) names(idx []int) string {
	var n []string
	for _, i := range idx {
		n = append(n, v.bs[i].Name)
	}
	return strings.Join(n, ", ")
}

// schema compares databases, retention policies and measurements and
// returns the retention policy and measurement pairs to compare further.
func (v *verifier) schema(ctx context.Context) ([]unit, error) {
	bs := v.bs
	dbs := make([][]string, len(bs))
	if err := eachBackend(ctx, all(len(bs)), func(ctx context.Context, i int) (err error) {
		dbs[i], err = bs[i].databases(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	have := presence(dbs)
	if v.o.Database != "" {
		if _, ok := have[v.o.Database]; !ok {
			return nil, fmt.Errorf("database %q exists on none of the backends (%s)", v.o.Database, v.names(all(len(bs))))
		}
		have = map[string][]int{v.o.Database: have[v.o.Database]}
	}
	var units []unit
	for _, db := range slices.Sorted(maps.Keys(have)) {
		members := have[db]
		if missing := absent(members, len(bs)); len(missing) > 0 {
			v.add(Difference{Kind: KindDatabase, Database: db, Detail: "missing on " + v.names(missing)})
		}
		if len(members) < 2 {
			continue
		}
		rps := make([][]retentionPolicy, len(bs))
		ms := make([][]string, len(bs))
		if err := eachBackend(ctx, members, func(ctx context.Context, i int) (err error) {
			if rps[i], err = bs[i].retentionPolicies(ctx, db); err == nil {
				ms[i], err = bs[i].measurements(ctx, db)
			}
			return err
		}); err != nil {
			return nil, err
		}
		rpMembers := v.compareRPs(db, members, rps)
		mHave := presence(ms)
		for _, m := range slices.Sorted(maps.Keys(mHave)) {
			if missing := absent(mHave[m], len(bs), members...); len(missing) > 0 {
				v.add(Difference{Kind: KindMeasurement, Database: db, Measurement: m, Detail: "missing on " + v.names(missing)})
			}
			for _, rp := range slices.Sorted(maps.Keys(rpMembers)) {
				if len(rpMembers[rp]) >= 2 {
					units = append(units, unit{db: db, rp: rp, m: m, members: rpMembers[rp], listing: mHave[m]})
				}
			}
		}
	}
	return units, nil
}

// compareRPs reports retention policies that are missing or differ in
// duration or default flag, and returns each policy's backends.
func (v *verifier) compareRPs(db string, members []int, rps [][]retentionPolicy) map[string][]int {
	byName := map[string][]int{}
	for _, i := range members {
		for _, rp := range rps[i] {
			byName[rp.Name] = append(byName[rp.Name], i)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		if missing := absent(byName[name], len(v.bs), members...); len(missing) > 0 {
			v.add(Difference{Kind: KindRetentionPolicy, Database: db, RetentionPolicy: name, Detail: "missing on " + v.names(missing)})
		}
		var dur, def []string
		for _, i := range byName[name] {
			rp := rps[i][slices.IndexFunc(rps[i], func(r retentionPolicy) bool { return r.Name == name })]
			dur = append(dur, rpDuration(rp.Duration))
			def = append(def, fmt.Sprint(rp.Default))
		}
		names := memberNames(v.bs, byName[name])
		var detail []string
		if !allSameValue(dur) {
			detail = append(detail, "duration "+labeled(names, dur))
		}
		if !allSameValue(def) {
			detail = append(detail, "default "+labeled(names, def))
		}
		if len(detail) > 0 {
			v.add(Difference{Kind: KindRetentionPolicy, Database: db, RetentionPolicy: name, Detail: strings.Join(detail, "; ")})
		}
	}
	return byName
}

// fields compares each unit's field keys and types and finds the time range
// of its data; units without data anywhere are dropped.
func (v *verifier) fields(ctx context.Context, units []unit) ([]unit, error) {
	keep := make([]bool, len(units))
	err := pool(ctx, v.o.Concurrency, len(units), func(ctx context.Context, k int) error {
		u := &units[k]
		types := make([]map[string][]string, len(v.bs))
		if err := eachBackend(ctx, u.members, func(ctx context.Context, i int) (err error) {
			types[i], err = v.bs[i].fieldTypes(ctx, u.db, u.rp, u.m)
			return err
		}); err != nil {
			return err
		}
		var with []int
		u.types = map[string][]string{}
		for _, i := range u.members {
			if len(types[i]) > 0 {
				with = append(with, i)
			}
			for f, t := range types[i] {
				if len(u.types[f]) == 0 {
					u.types[f] = t
				}
			}
		}
		if len(with) == 0 {
			return nil
		}
		// A backend that does not list m at all was reported above; one
		// that lists it without data in this policy is reported here.
		var empty []int
		for _, i := range u.members {
			if len(types[i]) == 0 && slices.Contains(u.listing, i) {
				empty = append(empty, i)
			}
		}
		if len(empty) > 0 {
			v.add(Difference{Kind: KindMeasurement, Database: u.db, RetentionPolicy: u.rp, Measurement: u.m,
				Detail: "no data in this retention policy on " + v.names(empty)})
		}
		if d := describeFields(v.bs, with, types); d != "" {
			v.add(Difference{Kind: KindFields, Database: u.db, RetentionPolicy: u.rp, Measurement: u.m, Detail: d})
		}
		if len(with) < 2 {
			return nil
		}
		u.members = with
		rng, ok, err := dataRange(ctx, v.bs, u, v.o.Start, v.o.End)
		if err != nil || !ok {
			return err
		}
		u.rng, keep[k] = rng, true
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []unit
	for k, u := range units {
		if keep[k] {
			out = append(out, u)
		}
	}
	v.rep.Measurements = len(out)
	return out, nil
}

// dataRange is the span from the earliest first point to the latest last
// point of u on its members, narrowed to [start, end) where given.
func dataRange(ctx context.Context, bs []*server, u *unit, start, end time.Time) (span, bool, error) {
	r := span{minTime, maxTime + 1}
	if !start.IsZero() {
		r.from = start.UnixNano()
	}
	if !end.IsZero() {
		r.to = end.UnixNano()
	}
	if !start.IsZero() && !end.IsZero() {
		return r, r.from < r.to, nil
	}
	var mu sync.Mutex
	found := span{maxTime + 1, minTime}
	err := eachBackend(ctx, u.members, func(ctx context.Context, i int) error {
		first, last, ok, err := bs[i].timeRange(ctx, u.db, u.rp, u.m, u.cond)
		if err != nil || !ok {
			return err
		}
		mu.Lock()
		found.from, found.to = min(found.from, first), max(found.to, last+1)
		mu.Unlock()
		return nil
	})
	if err != nil || found.from >= found.to {
		return span{}, false, err
	}
	if start.IsZero() {
		r.from = found.from
	}
	if end.IsZero() {
		r.to = found.to
	}
	return r, r.from < r.to, nil
}

// describeFields names the fields not present with the same types on every
// member: "load: a=float b=integer; user: a=- b=string".
func describeFields(bs []*server, members []int, types []map[string][]string) string {
	keys := map[string]bool{}
	for _, i := range members {
		for f := range types[i] {
			keys[f] = true
		}
	}
	var parts []string
	for _, f := range slices.Sorted(maps.Keys(keys)) {
		var vals []string
		for _, i := range members {
			t := "-"
			if ts := types[i][f]; len(ts) > 0 {
				t = strings.Join(slices.Sorted(slices.Values(ts)), "|")
			}
			vals = append(vals, t)
		}
		if !allSameValue(vals) {
			parts = append(parts, f+": "+labeled(memberNames(bs, members), vals))
		}
	}
	return strings.Join(parts, "; ")
}

// data compares the buckets of every unit.
func (v *verifier) data(ctx context.Context, units []unit) error {
	diffs, n, err := findDiffs(ctx, v.bs, units, int64(v.o.Bucket), v.o.Concurrency, v.o.Recheck)
	if err != nil {
		return err
	}
	v.rep.Buckets = n
	for _, f := range diffs {
		v.add(f.difference(v.bs))
	}
	return nil
}
