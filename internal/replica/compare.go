package replica

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// pool runs fn for 0..n-1 with at most limit calls at once and returns the
// first error (which cancels the rest).
func pool(ctx context.Context, limit, n int, fn func(ctx context.Context, k int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for k := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(gctx, k) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// scan queries the bucket stats of every window of every unit on the
// unit's members, at most limit windows at once (so each backend sees at
// most limit stats queries in flight), and hands each window's stats to fn,
// one map per member in the order of u.members. Windows for which skip
// returns true are not queried.
func scan(ctx context.Context, bs []*server, units []unit, bucket int64, limit int,
	skip func(u *unit, w span) bool, fn func(u *unit, w span, per []map[int64]stats)) error {
	type task struct {
		u *unit
		w span
	}
	var tasks []task
	for k := range units {
		for _, w := range windows(units[k].rng, bucket) {
			if skip == nil || !skip(&units[k], w) {
				tasks = append(tasks, task{&units[k], w})
			}
		}
	}
	return pool(ctx, limit, len(tasks), func(ctx context.Context, k int) error {
		t := tasks[k]
		per, err := memberStats(ctx, bs, t.u, t.w, bucket)
		if err == nil {
			fn(t.u, t.w, per)
		}
		return err
	})
}

// memberStats queries the stats of u in w on each member at once.
func memberStats(ctx context.Context, bs []*server, u *unit, w span, bucket int64) ([]map[int64]stats, error) {
	per := make([]map[int64]stats, len(u.members))
	err := eachBackend(ctx, all(len(u.members)), func(ctx context.Context, j int) (err error) {
		per[j], err = bs[u.members[j]].bucketStats(ctx, u.db, u.rp, u.m, u.cond, w, bucket)
		return err
	})
	return per, err
}

// compareBucket compares one bucket of u again.
func compareBucket(ctx context.Context, bs []*server, u *unit, start, bucket int64) ([]bucketDiff, error) {
	per, err := memberStats(ctx, bs, u, bucketSpan(start, bucket, u.rng), bucket)
	if err != nil {
		return nil, err
	}
	return compareBuckets(per, u.types), nil
}

// unitDiff is a bucket of a unit in which the members disagree.
type unitDiff struct {
	u    *unit
	diff bucketDiff
}

func (f unitDiff) difference(bs []*server) Difference {
	return Difference{Kind: KindData, Database: f.u.db, RetentionPolicy: f.u.rp, Measurement: f.u.m,
		Bucket: time.Unix(0, f.diff.start).UTC(), Detail: f.diff.describe(memberNames(bs, f.u.members))}
}

// findDiffs compares every bucket of every unit on its members and
// returns the buckets that differ and how many non-empty buckets were
// compared. With recheck > 0, the buckets that differ are compared once
// more after that wait, and only those that still differ are returned:
// a write on its way to the replicas (influxgate delivers to each backend
// on its own) must not count as a difference.
func findDiffs(ctx context.Context, bs []*server, units []unit, bucket int64, limit int, recheck time.Duration) ([]unitDiff, int, error) {
	var (
		mu    sync.Mutex
		diffs []unitDiff
		n     int
	)
	err := scan(ctx, bs, units, bucket, limit, nil, func(u *unit, _ span, per []map[int64]stats) {
		seen := map[int64]bool{}
		for _, m := range per {
			for t := range m {
				seen[t] = true
			}
		}
		ds := compareBuckets(per, u.types)
		mu.Lock()
		defer mu.Unlock()
		n += len(seen)
		for _, d := range ds {
			diffs = append(diffs, unitDiff{u, d})
		}
	})
	if err != nil || len(diffs) == 0 || recheck <= 0 {
		return diffs, n, err
	}
	if err := sleep(ctx, recheck); err != nil {
		return nil, n, err
	}
	still := make([]bool, len(diffs))
	err = pool(ctx, limit, len(diffs), func(ctx context.Context, k int) error {
		ds, err := compareBucket(ctx, bs, diffs[k].u, diffs[k].diff.start, bucket)
		if len(ds) > 0 {
			diffs[k].diff, still[k] = ds[0], true
		}
		return err
	})
	if err != nil {
		return nil, n, err
	}
	kept := diffs[:0]
	for k, f := range diffs {
		if still[k] {
			kept = append(kept, f)
		}
	}
	return kept, n, nil
}

// memberNames lists the names of the backends idx.
func memberNames(bs []*server, idx []int) []string {
	var n []string
	for _, i := range idx {
		n = append(n, bs[i].Name)
	}
	return n
}

// presence maps each name in lists to the indexes of the lists holding it.
func presence(lists [][]string) map[string][]int {
	have := map[string][]int{}
	for i, l := range lists {
		for _, name := range l {
			if !slices.Contains(have[name], i) {
				have[name] = append(have[name], i)
			}
		}
	}
	return have
}

// absent lists the indexes among among (default: 0..n-1) not in members.
func absent(members []int, n int, among ...int) []int {
	if among == nil {
		among = all(n)
	}
	var out []int
	for _, i := range among {
		if !slices.Contains(members, i) {
			out = append(out, i)
		}
	}
	return out
}

func allSameValue(vals []string) bool {
	for _, v := range vals[min(1, len(vals)):] {
		if v != vals[0] {
			return false
		}
	}
	return true
}

// labeled pairs names and values: "a=1h b=24h".
func labeled(names, vals []string) string {
	parts := make([]string, len(names))
	for i := range names {
		parts[i] = names[i] + "=" + vals[i]
	}
	return strings.Join(parts, " ")
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
