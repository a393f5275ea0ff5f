package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
)

// Comparing replicas by time bucket.
//
// One query per measurement and window of bucketsPerQuery buckets asks for
//
//	SELECT count(*), sum(*), min(*), max(*) FROM rp.m
//	WHERE time >= from AND time < to GROUP BY time(bucket) fill(none)
//
// which gives, per bucket and per field, the number of values (InfluxQL
// counts values per field, not points, so the counts are compared field by
// field — exact even for sparse fields), and for numeric and boolean fields
// the minimum, maximum and (numeric) sum as a cheap checksum. Counts,
// minima, maxima and integer sums are compared exactly (integer sums wrap
// the same way everywhere). Float sums depend on the order of addition,
// which can differ between two servers holding the same points in different
// shards or files, so they are compared within the rounding bound of
// recursive summation, n·n·ε·max|x|. Strings have no aggregate but count:
// a string overwritten with another of the same count goes unnoticed.

// bucketsPerQuery is how many buckets one stats query covers: few enough to
// keep each query's scan small, many enough that empty stretches cost few
// queries.
const bucketsPerQuery = 24

// stats are one bucket's aggregates: column (count_f, sum_f, min_f, max_f)
// to value, as InfluxDB printed it.
type stats map[string]string

// points estimates the points behind s: the count of the most populated
// field (exact when some field is in every point).
func (s stats) points() int64 {
	var n int64
	for col, v := range s {
		if strings.HasPrefix(col, "count_") {
			if c, err := strconv.ParseInt(v, 10, 64); err == nil && c > n {
				n = c
			}
		}
	}
	return n
}

// span is the time range [from, to) in nanoseconds.
type span struct{ from, to int64 }

// bucketStart is the start of the bucket holding t; buckets are aligned on
// multiples of their length since the epoch, as GROUP BY time aligns them.
func bucketStart(t, bucket int64) int64 {
	r := t % bucket
	if r < 0 {
		r += bucket
	}
	if s := t - r; s <= t {
		return s
	}
	return math.MinInt64
}

// addSat adds without wrapping past the int64 range.
func addSat(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	if b < 0 && a < math.MinInt64-b {
		return math.MinInt64
	}
	return a + b
}

// windows splits r into query windows of up to bucketsPerQuery buckets,
// aligned on bucket boundaries (the first and last are clipped to r).
func windows(r span, bucket int64) []span {
	var out []span
	if r.from >= r.to {
		return nil
	}
	step := bucket * bucketsPerQuery
	for start := bucketStart(r.from, bucket); start < r.to; {
		next := addSat(start, step)
		out = append(out, span{max(start, r.from), min(next, r.to)})
		if next == math.MaxInt64 {
			break
		}
		start = next
	}
	return out
}

// bucketSpan is the part of the bucket starting at start that lies in r.
func bucketSpan(start, bucket int64, r span) span {
	return span{max(start, r.from), min(addSat(start, bucket), r.to)}
}

// bucketStats returns the stats of every non-empty bucket of rp.m in w
// (only its series that match cond, when cond is not ""), keyed by bucket
// start. A database or retention policy that does not exist has no
// buckets.
func (s *server) bucketStats(ctx context.Context, db, rp, m, cond string, w span, bucket int64) (map[int64]stats, error) {
	const query = "SELECT count(*), %sFROM %s WHERE %s GROUP BY time(%s) fill(none)"
	q := fmt.Sprintf(query, "sum(*), min(*), max(*) ", source(rp, m), where(cond, w), durationLit(time.Duration(bucket)))
	res, err := s.query(ctx, db, q)
	var be *backend.Error
	noSum := errors.As(err, &be) && be.Reason == "unreadable_answer" && strings.Contains(be.Err.Error(), "unsupported value")
	if noSum {
		// A float sum overflowed and InfluxDB could not print it: compare
		// this window without sums.
		q = fmt.Sprintf(query, "min(*), max(*) ", source(rp, m), where(cond, w), durationLit(time.Duration(bucket)))
		res, err = s.query(ctx, db, q)
	}
	if isNotFound(err) {
		return map[int64]stats{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[int64]stats{}
	for _, se := range res.Series {
		for _, row := range se.Values {
			t, err := rowTime(row)
			if err != nil || len(row) != len(se.Columns) {
				return nil, s.badAnswer(fmt.Sprintf("stats of %s.%s.%s", db, rp, m), fmt.Errorf("bad row %v", row))
			}
			st := out[bucketStart(t, bucket)]
			if st == nil {
				st = stats{}
				out[bucketStart(t, bucket)] = st
			}
			if noSum {
				st[noSumColumn] = "true"
			}
			for i := 1; i < len(row); i++ {
				switch v := row[i].(type) {
				case json.Number:
					st[se.Columns[i]] = v.String()
				case bool:
					st[se.Columns[i]] = strconv.FormatBool(v)
				case string:
					st[se.Columns[i]] = strconv.Quote(v)
				}
			}
		}
	}
	return out, nil
}

// noSumColumn marks stats queried without sums; their sums are not
// compared.
const noSumColumn = "nosum"

// differ returns the columns in which a and b disagree, sorted.
func differ(a, b stats, types map[string][]string) []string {
	_, noSumA := a[noSumColumn]
	_, noSumB := b[noSumColumn]
	skip := func(col string) bool {
		return col == noSumColumn || (noSumA || noSumB) && strings.HasPrefix(col, "sum_")
	}
	var cols []string
	for col := range a {
		if !skip(col) && !sameColumn(col, a, b, types) {
			cols = append(cols, col)
		}
	}
	for col := range b {
		if _, ok := a[col]; !ok && !skip(col) {
			cols = append(cols, col)
		}
	}
	slices.Sort(cols)
	return cols
}

func sameColumn(col string, a, b stats, types map[string][]string) bool {
	va, okA := a[col]
	vb, okB := b[col]
	if !okA || !okB {
		return false
	}
	if va == vb {
		return true
	}
	fn, field, _ := strings.Cut(col, "_")
	if !slices.Equal(types[field], []string{"float"}) {
		return false // counts, integers, booleans: exact
	}
	fa, errA := strconv.ParseFloat(va, 64)
	fb, errB := strconv.ParseFloat(vb, 64)
	if errA != nil || errB != nil {
		return false
	}
	switch fn {
	case "min", "max":
		return fa == fb // "1" and "1.0" style differences only
	case "sum":
		n := max(countOf(a, field), countOf(b, field))
		maxAbs := 0.0
		for _, s := range []stats{a, b} {
			for _, c := range []string{"min_" + field, "max_" + field} {
				if f, err := strconv.ParseFloat(s[c], 64); err == nil {
					maxAbs = max(maxAbs, math.Abs(f))
				}
			}
		}
		const eps = 0x1p-52
		return math.Abs(fa-fb) <= n*n*eps*maxAbs
	}
	return false
}

func countOf(s stats, field string) float64 {
	c, _ := strconv.ParseFloat(s["count_"+field], 64)
	return c
}

// bucketDiff is a bucket in which backends disagree.
type bucketDiff struct {
	start int64
	stats []stats  // per backend; nil where the bucket is empty
	cols  []string // the columns that differ
}

// compareBuckets compares each backend's buckets with the first backend's.
func compareBuckets(per []map[int64]stats, types map[string][]string) []bucketDiff {
	starts := map[int64]bool{}
	for _, m := range per {
		for t := range m {
			starts[t] = true
		}
	}
	var out []bucketDiff
	for _, t := range slices.Sorted(maps.Keys(starts)) {
		d := bucketDiff{start: t, stats: make([]stats, len(per))}
		cols := map[string]bool{}
		for i, m := range per {
			d.stats[i] = m[t]
			if i > 0 {
				for _, c := range differ(per[0][t], m[t], types) {
					cols[c] = true
				}
			}
		}
		if len(cols) > 0 {
			d.cols = slices.Sorted(maps.Keys(cols))
			out = append(out, d)
		}
	}
	return out
}

// describe says how the backends disagree, e.g.
// "count_value: a=12 b=7; sum_value: a=55.5 b=20", naming at most four
// columns.
func (d bucketDiff) describe(names []string) string {
	var parts []string
	for i, c := range d.cols {
		if i == 4 {
			parts = append(parts, fmt.Sprintf("and %d more columns", len(d.cols)-4))
			break
		}
		vals := make([]string, len(names))
		for j, n := range names {
			v, ok := d.stats[j][c]
			if !ok {
				v = "-"
			}
			vals[j] = n + "=" + v
		}
		parts = append(parts, c+": "+strings.Join(vals, " "))
	}
	return strings.Join(parts, "; ")
}
