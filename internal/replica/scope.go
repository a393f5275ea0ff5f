package replica

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/lineproto"
)

// Scopes: the part of a database's data that a sharded listener places as
// one key (docs/sharding.md). influxgate rebalance lists, compares, copies
// and deletes data scope by scope with the functions below, which reuse
// Verify's per-bucket statistics and Resync's typed copy, restricted to the
// scope's series.

// Scope is one measurement of one database, or with Tag set only the
// series of that measurement whose tag Tag has the value Value (Value ""
// selects the series that have no tag Tag: InfluxQL compares a missing
// tag as the empty string).
type Scope struct {
	Database, Measurement string
	Tag, Value            string
}

// String names the scope for people: db.m, db.m[K=v] or db.m[no K].
func (s Scope) String() string {
	switch {
	case s.Tag == "":
		return s.Database + "." + s.Measurement
	case s.Value == "":
		return fmt.Sprintf("%s.%s[no %s]", s.Database, s.Measurement, s.Tag)
	}
	return fmt.Sprintf("%s.%s[%s=%s]", s.Database, s.Measurement, s.Tag, s.Value)
}

// cond is the WHERE condition that selects the scope's series, "" for a
// whole measurement. The ::tag cast keeps K a tag where a field has the
// same name (without it, the condition compares the field; observed on
// 1.6.7 and 1.8.10), and the empty string matches the series without the
// tag in SELECT, SHOW SERIES and DELETE alike.
func (s Scope) cond() string {
	if s.Tag == "" {
		return ""
	}
	return quoteIdent(s.Tag) + "::tag = " + quoteString(s.Value)
}

// quoteString writes an InfluxQL string literal.
func quoteString(v string) string {
	return "'" + stringEscaper.Replace(v) + "'"
}

var stringEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)

// ScopeOptions tune the scope operations.
type ScopeOptions struct {
	// Bucket is the unit of comparison and copying (default 1h).
	Bucket time.Duration
	// Concurrency bounds the requests in flight to each backend (default 2).
	Concurrency int
	// Recheck is the wait before a bucket that differs is compared once
	// more (see VerifyOptions.Recheck); 0: no second look.
	Recheck time.Duration
	// Passes is how often CopyScope compares after copying, copying
	// what still differs in between (default 3).
	Passes int
	// BatchSize is the lines per write (default 5000), ChunkSize the rows
	// per chunk of the source's answer (default 10000).
	BatchSize, ChunkSize int
	// Limiter paces the points written to each target, shared by every
	// call that gets it (nil: no limit). Its burst must be at least
	// BatchSize: a batch is the unit that waits.
	Limiter *rate.Limiter
	// Requests tune each request: its timeout and retries.
	Requests Requests
}

func (o *ScopeOptions) defaults() {
	if o.Bucket <= 0 {
		o.Bucket = time.Hour
	}
	o.Bucket = min(o.Bucket, maxBucket)
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	if o.Passes <= 0 {
		o.Passes = 3
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 10000
	}
	o.Requests.defaults()
}

func (o *ScopeOptions) servers(cs ...*backend.Client) []*server {
	o.defaults()
	return newServers(cs, o.Concurrency, o.Requests)
}

// ListScopes lists the scopes c holds, sorted: every measurement of every
// database but _internal; with tag != "" (shard-key = "tag:K") every value
// of that tag per measurement, and the value "" when some series of the
// measurement have no such tag.
func ListScopes(ctx context.Context, c *backend.Client, tag string, o ScopeOptions) ([]Scope, error) {
	s := o.servers(c)[0]
	dbs, err := s.databases(ctx)
	if err != nil {
		return nil, err
	}
	var out []Scope
	for _, db := range dbs {
		ms, err := s.measurements(ctx, db)
		if isNotFound(err) {
			continue // dropped meanwhile
		}
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if tag == "" {
				out = append(out, Scope{Database: db, Measurement: m})
				continue
			}
			values, err := s.tagValues(ctx, db, m, tag)
			if err != nil {
				return nil, err
			}
			for _, v := range values {
				out = append(out, Scope{Database: db, Measurement: m, Tag: tag, Value: v})
			}
		}
	}
	slices.SortFunc(out, func(a, b Scope) int {
		return strings.Compare(a.Database+"\x00"+a.Measurement+"\x00"+a.Value, b.Database+"\x00"+b.Measurement+"\x00"+b.Value)
	})
	return out, nil
}

// tagValues lists the values of tag in m's series, with "" when some
// series have no such tag, from the series keys (SHOW SERIES): SHOW TAG
// VALUES goes on listing a value after DELETE removed its last series
// (observed on 1.6.7), which would make a deleted key look present.
func (s *server) tagValues(ctx context.Context, db, m, tag string) ([]string, error) {
	res, err := s.query(ctx, db, "SHOW SERIES ON "+quoteIdent(db)+" FROM "+quoteIdent(m))
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, key := range firstColumn(res) {
		_, tags := lineproto.Key([]byte(key))
		v, _ := lineproto.TagValue(tags, []byte(tag))
		seen[string(v)] = true
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// hasSeries reports whether the index holds a series of sc (in any
// retention policy: InfluxDB keeps one index per database).
func (s *server) hasSeries(ctx context.Context, sc Scope) (bool, error) {
	q := "SHOW SERIES ON " + quoteIdent(sc.Database) + " FROM " + quoteIdent(sc.Measurement)
	if c := sc.cond(); c != "" {
		q += " WHERE " + c
	}
	res, err := s.query(ctx, sc.Database, q+" LIMIT 1")
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, se := range res.Series {
		if len(se.Values) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// HasScope reports whether c holds a series of sc.
func HasScope(ctx context.Context, c *backend.Client, sc Scope, o ScopeOptions) (bool, error) {
	return o.servers(c)[0].hasSeries(ctx, sc)
}

// CountScope returns about how many points of sc c holds in all its
// retention policies: per policy, the count of the scope's most populated
// field (exact when some field is in every point).
func CountScope(ctx context.Context, c *backend.Client, sc Scope, o ScopeOptions) (int64, error) {
	s := o.servers(c)[0]
	rps, err := s.retentionPolicies(ctx, sc.Database)
	if isNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var total int64
	for _, rp := range rps {
		q := "SELECT count(*) FROM " + source(rp.Name, sc.Measurement)
		if cond := sc.cond(); cond != "" {
			q += " WHERE " + cond
		}
		res, err := s.query(ctx, sc.Database, q)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return 0, err
		}
		var most int64
		for _, se := range res.Series {
			for _, row := range se.Values {
				for _, v := range row[min(1, len(row)):] {
					if n, ok := v.(json.Number); ok {
						if i, err := n.Int64(); err == nil {
							most = max(most, i)
						}
					}
				}
			}
		}
		total += most
	}
	return total, nil
}

// DeleteScope deletes every point and series of sc from c, in every
// retention policy, and returns the statement it ran ("" when c holds
// nothing of sc): DROP MEASUREMENT for a whole measurement, DELETE FROM m
// WHERE K::tag = 'v' for the series with a tag value, or without the tag
// (an empty v). Observed on 1.6.7 and 1.8.10: both reach every retention
// policy of the database, and the empty string deletes exactly the series
// without K.
func DeleteScope(ctx context.Context, c *backend.Client, sc Scope, o ScopeOptions) (string, error) {
	s := o.servers(c)[0]
	if ok, err := s.hasSeries(ctx, sc); err != nil || !ok {
		return "", err
	}
	q := "DROP MEASUREMENT " + quoteIdent(sc.Measurement)
	if cond := sc.cond(); cond != "" {
		q = "DELETE FROM " + quoteIdent(sc.Measurement) + " WHERE " + cond
	}
	err := s.do(ctx, s.req.QueryTimeout, func(ctx context.Context) error {
		return s.c.ExecStatement(ctx, sc.Database, q)
	})
	return q, err
}

// CopySchema creates database db on dst as src has it: the database with
// src's default retention policy, the retention policies dst lacks, and
// the continuous queries dst lacks (by name). Policies dst has with other
// settings are left alone (a change made through influxgate reaches every
// shard by itself) and reported through note. It returns the statements
// it ran.
func CopySchema(ctx context.Context, src, dst *backend.Client, db string, o ScopeOptions, note func(string)) ([]string, error) {
	bs := o.servers(src, dst)
	dbs, err := bs[1].databases(ctx)
	if err != nil {
		return nil, err
	}
	var ran []string
	_, err = copySchema(ctx, bs[0], bs[1], db, slices.Contains(dbs, db), schemaCQs, func(q string) error {
		if err := bs[1].exec(ctx, q); err != nil {
			return err
		}
		ran = append(ran, q)
		return nil
	}, note)
	return ran, err
}

// scopeUnits returns one unit per retention policy in which some of the
// backends hold data of sc, with the field types and the time range over
// all of them; every backend is a member, so that one without the data
// (or without the policy) shows as a difference.
func scopeUnits(ctx context.Context, bs []*server, sc Scope, concurrency int) ([]unit, error) {
	rps := make([][]retentionPolicy, len(bs))
	if err := eachBackend(ctx, all(len(bs)), func(ctx context.Context, i int) (err error) {
		rps[i], err = bs[i].retentionPolicies(ctx, sc.Database)
		if isNotFound(err) {
			return nil
		}
		return err
	}); err != nil {
		return nil, err
	}
	having := map[string][]int{}
	for i, l := range rps {
		for _, rp := range l {
			having[rp.Name] = append(having[rp.Name], i)
		}
	}
	names := slices.Sorted(maps.Keys(having))
	units := make([]unit, len(names))
	keep := make([]bool, len(names))
	var mu sync.Mutex
	err := pool(ctx, concurrency, len(names), func(ctx context.Context, k int) error {
		rp := names[k]
		types := map[string][]string{}
		for _, i := range having[rp] {
			t, err := bs[i].fieldTypes(ctx, sc.Database, rp, sc.Measurement)
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			mu.Lock()
			for f, ts := range t {
				for _, ty := range ts {
					if !slices.Contains(types[f], ty) {
						types[f] = append(types[f], ty)
					}
				}
			}
			mu.Unlock()
		}
		if len(types) == 0 {
			return nil
		}
		u := unit{db: sc.Database, rp: rp, m: sc.Measurement, cond: sc.cond(), members: having[rp], types: types}
		rng, ok, err := dataRange(ctx, bs, &u, time.Time{}, time.Time{})
		if err != nil || !ok {
			return err
		}
		u.rng, u.members = rng, all(len(bs))
		units[k], keep[k] = u, true
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []unit
	for k := range units {
		if keep[k] {
			out = append(out, units[k])
		}
	}
	return out, nil
}

// CompareScope compares sc on the backends (two or more) bucket by bucket,
// as Verify compares a measurement, and returns the buckets that differ
// (after a second look when o.Recheck > 0); none means they agree.
func CompareScope(ctx context.Context, cs []*backend.Client, sc Scope, o ScopeOptions) ([]Difference, error) {
	if len(cs) < 2 {
		return nil, nil
	}
	bs := o.servers(cs...)
	units, err := scopeUnits(ctx, bs, sc, o.Concurrency)
	if err != nil {
		return nil, err
	}
	diffs, _, err := findDiffs(ctx, bs, units, int64(o.Bucket), o.Concurrency, o.Recheck)
	if err != nil {
		return nil, err
	}
	out := make([]Difference, len(diffs))
	for i, d := range diffs {
		out[i] = d.difference(bs)
	}
	return out, nil
}

// ScopeCopy is what CopyScope did.
type ScopeCopy struct {
	// Buckets is the number of bucket copies made, Points the points
	// written to each target.
	Buckets int
	Points  int64
	// Remaining are the buckets that still differ after the last pass;
	// none means every target agrees with the source.
	Remaining []Difference
}

// CopyScope brings every target in line with src for sc: it compares the
// scope bucket by bucket on all of them, copies each bucket in which a
// target differs from src to every target (typed line protocol, as
// Resync writes it; writing a point again is harmless), and compares
// again, up to o.Passes times. Buckets in which a target holds points src
// lacks cannot be fixed by copying and remain. The first comparison takes
// no second look: a bucket that differs is copied at once.
func CopyScope(ctx context.Context, src *backend.Client, dsts []*backend.Client, sc Scope, o ScopeOptions) (*ScopeCopy, error) {
	bs := o.servers(append([]*backend.Client{src}, dsts...)...)
	units, err := scopeUnits(ctx, bs, sc, o.Concurrency)
	if err != nil {
		return nil, err
	}
	res := &ScopeCopy{}
	bucket := int64(o.Bucket)
	cp := copyParams{batch: o.BatchSize, chunk: o.ChunkSize}
	if o.Limiter != nil {
		cp.limiter = o.Limiter
	}
	for pass := 1; ; pass++ {
		recheck := o.Recheck
		if pass == 1 {
			recheck = 0
		}
		diffs, _, err := findDiffs(ctx, bs, units, bucket, o.Concurrency, recheck)
		if err != nil {
			return res, err
		}
		var jobs []job
		for _, d := range diffs {
			if n := d.diff.stats[0].points(); n > 0 {
				jobs = append(jobs, job{d.u, d.diff.start, n})
			}
		}
		if len(diffs) == 0 || pass > o.Passes || len(jobs) == 0 {
			for _, d := range diffs {
				res.Remaining = append(res.Remaining, d.difference(bs))
			}
			return res, nil
		}
		var mu sync.Mutex
		err = pool(ctx, o.Concurrency, len(jobs), func(ctx context.Context, k int) error {
			j := jobs[k]
			n, err := copyBucketTo(ctx, bs[0], bs[1:], j.u, bucketSpan(j.start, bucket, j.u.rng), cp, nopProgress{})
			mu.Lock()
			res.Points += n
			res.Buckets++
			mu.Unlock()
			return err
		})
		if err != nil {
			return res, err
		}
	}
}

// CoversScope reports the buckets of sc in which newer holds fewer values
// of some field than older. After every point of a scope was written to
// both (and newer may have received more since), newer must cover older:
// equal statistics cannot be expected, but no count may be smaller.
func CoversScope(ctx context.Context, older, newer *backend.Client, sc Scope, o ScopeOptions) ([]Difference, error) {
	bs := o.servers(older, newer)
	units, err := scopeUnits(ctx, bs, sc, o.Concurrency)
	if err != nil {
		return nil, err
	}
	var (
		mu  sync.Mutex
		out []Difference
	)
	err = scan(ctx, bs, units, int64(o.Bucket), o.Concurrency, nil, func(u *unit, _ span, per []map[int64]stats) {
		mu.Lock()
		defer mu.Unlock()
		for t, st := range per[0] {
			var short []string
			for col, v := range st {
				if !strings.HasPrefix(col, "count_") {
					continue
				}
				a, _ := strconv.ParseInt(v, 10, 64)
				b, _ := strconv.ParseInt(per[1][t][col], 10, 64)
				if b < a {
					short = append(short, fmt.Sprintf("%s: %s=%d %s=%d", col, bs[0].Name, a, bs[1].Name, b))
				}
			}
			if len(short) > 0 {
				slices.Sort(short)
				out = append(out, Difference{Kind: KindData, Database: u.db, RetentionPolicy: u.rp, Measurement: u.m,
					Bucket: time.Unix(0, t).UTC(), Detail: strings.Join(short, "; ")})
			}
		}
	})
	return out, err
}
