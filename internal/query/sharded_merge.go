package query

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/influxdata/influxql"
)

// Merging the answers of several shards to one statement into the answer
// one InfluxDB holding all the data would give.

// part is the result of one statement on one shard.
type part struct {
	shard string
	res   *result
}

// merge combines the parts by the plan's mode. Parts are in config order;
// keep reports whether a series of a part is served by its shard (nil:
// every series is).
func merge(sp *stmtPlan, parts []part, keep func(shard string, s *series) bool) (*result, error) {
	out := &result{}
	for _, pt := range parts {
		if pt.res.Err != "" {
			return &result{Err: pt.res.Err, Messages: pt.res.Messages}, nil
		}
	}
	seen := map[message]bool{}
	var all []*series
	for _, pt := range parts {
		for _, m := range pt.res.Messages {
			if !seen[m] {
				seen[m] = true
				out.Messages = append(out.Messages, m)
			}
		}
		for _, s := range pt.res.Series {
			if keep == nil || keep(pt.shard, s) {
				all = append(all, s)
			}
		}
	}
	var err error
	switch sp.mode {
	case mergeSeries:
		if err = unifyColumns(all, sp.fields); err == nil {
			unifyTags(all, sp.tagUnion)
			out.Series = sortSeries(all, sp.desc)
		}
	case mergeRows:
		if err = unifyColumns(all, sp.fields); err == nil {
			unifyTags(all, sp.tagUnion)
			out.Series, err = mergeRowsByTime(all, sp)
		}
	case mergeAggregate:
		unifyTags(all, sp.tagUnion)
		out.Series, err = mergeAggregates(all, sp)
	case mergeSelector:
		unifyTags(all, sp.tagUnion)
		out.Series, err = mergeSelectors(all, sp)
	case mergeShowList:
		out.Series = mergeList(all, sp.limit, sp.offset)
	case mergeShowPerName:
		out.Series = mergePerName(all, sp.limit, sp.offset)
	case mergeSum:
		out.Series, err = mergeSums(all)
	default:
		err = fmt.Errorf("unknown merge mode %d", sp.mode)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// tagID is the order of series within a measurement in InfluxDB: the
// tag keys, then the values in key order, joined by NUL bytes.
func tagID(tags map[string]string) string {
	if len(tags) == 0 {
		return ""
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(k)
	}
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(tags[k])
	}
	return b.String()
}

// seriesKey identifies a series: its name and its tags.
func seriesKey(s *series) string { return s.Name + "\x00\x00" + tagID(s.Tags) }

// compareSeries is InfluxDB's series order: by name, then by tags.
func compareSeries(a, b *series) int {
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return cmp.Compare(tagID(a.Tags), tagID(b.Tags))
}

// sortSeries puts series in InfluxDB's order, reversed for ORDER BY time
// DESC; series that compare equal keep the shards' order.
func sortSeries(all []*series, desc bool) []*series {
	slices.SortStableFunc(all, func(a, b *series) int {
		if desc {
			return compareSeries(b, a)
		}
		return compareSeries(a, b)
	})
	return all
}

// unifyColumns gives every series the same columns when the shards
// answered with different ones: a wildcard or regular expression in the
// field list stands for the fields and tags each shard holds, sorted by
// name, so one server holding everything would have listed their union.
// Values move to their column of the union; the others are null.
func unifyColumns(all []*series, fields influxql.Fields) error {
	if len(all) < 2 {
		return nil
	}
	first := all[0].Columns
	same := true
	for _, s := range all[1:] {
		if !equalStrings(s.Columns, first) {
			same = false
			break
		}
	}
	if same {
		return nil
	}
	exp := -1
	for i, f := range fields {
		if expands(f.Expr) {
			if exp >= 0 {
				return refuse("the shards hold different fields and the statement has several wildcards or regular expressions in its field list, so the columns of the answer cannot be told: name the fields, or keep to one wildcard")
			}
			exp = i
		}
	}
	if exp < 0 {
		return refuse("the shards answered with different columns (%q and %q); influxgate cannot merge them: name the fields", first, columnsOfOther(all, first))
	}
	before, after := 1+exp, len(fields)-1-exp
	pre, suf := first[:min(before, len(first))], first[max(len(first)-after, 0):]
	names := map[string]bool{}
	for _, s := range all {
		if len(s.Columns) < before+after || !equalStrings(s.Columns[:before], pre) || !equalStrings(s.Columns[len(s.Columns)-after:], suf) {
			return refuse("the shards answered with different columns (%q and %q); influxgate cannot merge them: name the fields", first, s.Columns)
		}
		for _, c := range s.Columns[before : len(s.Columns)-after] {
			names[c] = true
		}
	}
	middle := make([]string, 0, len(names))
	for c := range names {
		middle = append(middle, c)
	}
	sort.Strings(middle)
	union := slices.Concat(pre, middle, suf)
	at := make(map[string]int, len(middle))
	for i, c := range middle {
		at[c] = before + i
	}
	for _, s := range all {
		if equalStrings(s.Columns, union) {
			continue
		}
		idx := make([]int, len(s.Columns))
		for i := range s.Columns {
			switch {
			case i < before:
				idx[i] = i
			case i >= len(s.Columns)-after:
				idx[i] = len(union) - (len(s.Columns) - i)
			default:
				idx[i] = at[s.Columns[i]]
			}
		}
		for r, row := range s.Values {
			nr := make([]any, len(union))
			for i, v := range row {
				if i < len(idx) {
					nr[idx[i]] = v
				}
			}
			s.Values[r] = nr
		}
		s.Columns = union
	}
	return nil
}

func columnsOfOther(all []*series, first []string) []string {
	for _, s := range all {
		if !equalStrings(s.Columns, first) {
			return s.Columns
		}
	}
	return nil
}

// unifyTags gives every series the union of the tag keys (empty values
// for the ones it lacks) with GROUP BY * or a regex: the keys grouped by
// depend on what each server holds, and one server holding everything
// would have grouped by them all.
func unifyTags(all []*series, union bool) {
	if !union {
		return
	}
	keys := map[string]bool{}
	for _, s := range all {
		for k := range s.Tags {
			keys[k] = true
		}
	}
	for _, s := range all {
		if len(s.Tags) == len(keys) {
			continue
		}
		if s.Tags == nil {
			s.Tags = map[string]string{}
		}
		for k := range keys {
			if _, ok := s.Tags[k]; !ok {
				s.Tags[k] = ""
			}
		}
	}
}

// group gathers series with the same name and tags, in order of first
// appearance.
func group(all []*series) [][]*series {
	at := map[string]int{}
	var out [][]*series
	for _, s := range all {
		k := seriesKey(s)
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], s)
	}
	return out
}

// window applies OFFSET and LIMIT to rows.
func window(rows [][]any, limit, offset int) [][]any {
	if offset >= len(rows) {
		return nil
	}
	rows = rows[offset:]
	if limit > 0 && limit < len(rows) {
		rows = rows[:limit]
	}
	return rows
}

// mergeRowsByTime merges the rows of each series by time (stable: rows
// with the same time keep the shards' order), then applies OFFSET and
// LIMIT to each series.
func mergeRowsByTime(all []*series, sp *stmtPlan) ([]*series, error) {
	var out []*series
	for _, g := range group(all) {
		s := g[0]
		if len(g) > 1 {
			type timed struct {
				t   int64
				row []any
			}
			var rows []timed
			for _, p := range g {
				for _, row := range p.Values {
					t, err := timeOf(row)
					if err != nil {
						return nil, err
					}
					rows = append(rows, timed{t, row})
				}
			}
			slices.SortStableFunc(rows, func(a, b timed) int {
				if sp.desc {
					return cmp.Compare(b.t, a.t)
				}
				return cmp.Compare(a.t, b.t)
			})
			merged := &series{Name: s.Name, Tags: s.Tags, Columns: s.Columns, Values: make([][]any, len(rows))}
			for i, r := range rows {
				merged.Values[i] = r.row
			}
			s = merged
		}
		s.Values = window(s.Values, sp.limit, sp.offset)
		if len(s.Values) > 0 {
			out = append(out, s)
		}
	}
	return sortSeries(out, sp.desc), nil
}

// mergeAggregates combines count, sum, min, max and mean (from sum and
// count) per series and time, then applies OFFSET and LIMIT per series.
func mergeAggregates(all []*series, sp *stmtPlan) ([]*series, error) {
	var out []*series
	for _, g := range group(all) {
		type bucket struct {
			t    int64
			rows [][]any
		}
		var buckets []*bucket
		byTime := map[int64]*bucket{}
		for _, p := range g {
			for _, row := range p.Values {
				t, err := timeOf(row)
				if err != nil {
					return nil, err
				}
				b := byTime[t]
				if b == nil {
					b = &bucket{t: t}
					byTime[t] = b
					buckets = append(buckets, b)
				}
				b.rows = append(b.rows, row)
			}
		}
		slices.SortStableFunc(buckets, func(a, b *bucket) int {
			if sp.desc {
				return cmp.Compare(b.t, a.t)
			}
			return cmp.Compare(a.t, b.t)
		})
		s := &series{Name: g[0].Name, Tags: g[0].Tags, Columns: append([]string{g[0].Columns[0]}, sp.names...)}
		for _, b := range buckets {
			row := make([]any, 1+len(sp.agg))
			row[0] = b.rows[0][0]
			for i, a := range sp.agg {
				v, err := combine(a, b.rows)
				if err != nil {
					return nil, err
				}
				row[1+i] = v
			}
			s.Values = append(s.Values, row)
		}
		s.Values = window(s.Values, sp.limit, sp.offset)
		if len(s.Values) > 0 {
			out = append(out, s)
		}
	}
	return sortSeries(out, sp.desc), nil
}

// combine computes one aggregate of a bucket from the shards' rows.
func combine(a aggColumn, rows [][]any) (any, error) {
	var acc, acc2 num
	have, have2 := false, false
	for _, row := range rows {
		for j, col := range a.src {
			if col >= len(row) || row[col] == nil {
				continue
			}
			n, ok := toNum(row[col])
			if !ok {
				return nil, fmt.Errorf("%s: %v is not a number", a.fn, row[col])
			}
			if j == 1 { // the count of a mean
				if have2 {
					acc2 = acc2.add(n)
				} else {
					acc2, have2 = n, true
				}
				continue
			}
			switch {
			case !have:
				acc, have = n, true
			case a.fn == "min":
				if n.less(acc) {
					acc = n
				}
			case a.fn == "max":
				if acc.less(n) {
					acc = n
				}
			default: // count, sum, and the sum of a mean
				acc = acc.add(n)
			}
		}
	}
	if a.fn == "mean" {
		if !have || !have2 || acc2.f == 0 {
			return nil, nil
		}
		return acc.f / acc2.f, nil
	}
	if !have {
		return nil, nil
	}
	return acc.value(), nil
}

// mergeSelectors picks, per series, the row of the extreme value (min or
// max); on a tie the earlier point, as InfluxDB's selector does.
func mergeSelectors(all []*series, sp *stmtPlan) ([]*series, error) {
	var out []*series
	for _, g := range group(all) {
		var best []any
		var bestN num
		var bestT int64
		for _, p := range g {
			for _, row := range p.Values {
				if sp.selectorCol >= len(row) || row[sp.selectorCol] == nil {
					if best == nil {
						best = row
					}
					continue
				}
				n, ok := toNum(row[sp.selectorCol])
				if !ok {
					return nil, fmt.Errorf("selector value %v is not a number", row[sp.selectorCol])
				}
				t, err := timeOf(row)
				if err != nil {
					return nil, err
				}
				better := best == nil || best[sp.selectorCol] == nil
				if !better {
					if sp.selectorMax {
						better = bestN.less(n)
					} else {
						better = n.less(bestN)
					}
					if !better && !n.less(bestN) && !bestN.less(n) {
						better = t < bestT // a tie: the earlier point
					}
				}
				if better {
					best, bestN, bestT = row, n, t
				}
			}
		}
		s := &series{Name: g[0].Name, Tags: g[0].Tags, Columns: g[0].Columns}
		if best != nil {
			s.Values = window([][]any{best}, sp.limit, sp.offset)
		}
		if len(s.Values) > 0 {
			out = append(out, s)
		}
	}
	return sortSeries(out, sp.desc), nil
}

// rowKey is a row's identity in SHOW answers.
func rowKey(row []any) string {
	var b strings.Builder
	for i, v := range row {
		if i > 0 {
			b.WriteByte(0)
		}
		fmt.Fprint(&b, v)
	}
	return b.String()
}

// compareRows orders SHOW rows as InfluxDB lists them: by their values,
// column by column.
func compareRows(a, b []any) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := cmp.Compare(fmt.Sprint(a[i]), fmt.Sprint(b[i])); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// unionRows is the sorted, de-duplicated union of the rows of series.
func unionRows(ss []*series) [][]any {
	seen := map[string]bool{}
	var rows [][]any
	for _, s := range ss {
		for _, row := range s.Values {
			k := rowKey(row)
			if !seen[k] {
				seen[k] = true
				rows = append(rows, row)
			}
		}
	}
	slices.SortFunc(rows, compareRows)
	return rows
}

// mergeList merges SHOW MEASUREMENTS and SHOW SERIES: one list.
func mergeList(all []*series, limit, offset int) []*series {
	if len(all) == 0 {
		return nil
	}
	rows := window(unionRows(all), limit, offset)
	if len(rows) == 0 {
		return nil
	}
	return []*series{{Name: all[0].Name, Tags: all[0].Tags, Columns: all[0].Columns, Values: rows}}
}

// mergePerName merges SHOW TAG KEYS, TAG VALUES and FIELD KEYS: one list
// per measurement, LIMIT and OFFSET applied to each.
func mergePerName(all []*series, limit, offset int) []*series {
	byName := map[string][]*series{}
	var names []string
	for _, s := range all {
		if _, ok := byName[s.Name]; !ok {
			names = append(names, s.Name)
		}
		byName[s.Name] = append(byName[s.Name], s)
	}
	sort.Strings(names)
	var out []*series
	for _, n := range names {
		g := byName[n]
		rows := window(unionRows(g), limit, offset)
		if len(rows) > 0 {
			out = append(out, &series{Name: n, Tags: g[0].Tags, Columns: g[0].Columns, Values: rows})
		}
	}
	return out
}

// mergeSums adds up cardinalities of disjoint sets, cell by cell, per
// series.
func mergeSums(all []*series) ([]*series, error) {
	var out []*series
	for _, g := range group(all) {
		s := &series{Name: g[0].Name, Tags: g[0].Tags, Columns: g[0].Columns}
		var sums []num
		for _, p := range g {
			for _, row := range p.Values {
				for i, v := range row {
					n, ok := toNum(v)
					if !ok {
						return nil, fmt.Errorf("cardinality %v is not a number", v)
					}
					if i >= len(sums) {
						sums = append(sums, n)
					} else {
						sums[i] = sums[i].add(n)
					}
				}
			}
		}
		if len(sums) > 0 {
			row := make([]any, len(sums))
			for i, n := range sums {
				row[i] = n.value()
			}
			s.Values = [][]any{row}
		}
		out = append(out, s)
	}
	slices.SortStableFunc(out, compareSeries)
	return out, nil
}
