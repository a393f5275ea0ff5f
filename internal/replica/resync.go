package replica

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/backfill"
)

// ResyncOptions configure Resync.
type ResyncOptions struct {
	// Source is the replica copied from, Target the one brought in line,
	// each reached with its output's own credentials.
	Source, Target *backend.Client
	// Database limits the resync to one database ("" = every database but
	// _internal).
	Database string
	// Start and End limit the data copied to [Start, End); zero values
	// leave that side open (from the source's first point, to its last).
	Start, End time.Time
	// Bucket is the unit of comparison, copying and progress (default 1h).
	Bucket time.Duration
	// Concurrency bounds the requests in flight to each backend (default 2).
	Concurrency int
	// BatchSize is the number of lines per write to the target (default
	// 5000).
	BatchSize int
	// ChunkSize is the number of rows per chunk of the source's streamed
	// answer (default 10000).
	ChunkSize int
	// Rate limits the points written per second (0: no limit).
	Rate float64
	// Passes is how many times the whole range is compared after the copy;
	// buckets that differ are copied again between passes (default 3).
	Passes int
	// Recheck is the wait before a bucket that differs in a comparison pass
	// is compared once more (see VerifyOptions.Recheck); 0: no second look.
	Recheck time.Duration
	// Requests tune each request: its timeout and retries.
	Requests Requests
	// StatePath is the progress file ("" keeps progress in memory only).
	StatePath string
	// Restart ignores saved progress and starts over.
	Restart bool
	// Progress receives progress reports (nil: none).
	Progress Progress
	// Out receives one line per step for the operator (nil: discarded).
	Out io.Writer
	// CQBackfill recomputes, after the copy, the target's continuous
	// queries over the copied range (as the daemon does for a backend that
	// received points late), before the comparison passes. Their targets
	// in the copied range are compared (and copied again where they
	// differ) like any measurement; the recomputation covers what the
	// copy does not, such as a query writing INTO a database left out by
	// Database.
	CQBackfill bool

	limiter waiter           // tests inject one; default from Rate
	now     func() time.Time // tests inject a clock; default time.Now
}

// waiter is what the copy needs of a rate limiter (*rate.Limiter has it).
type waiter interface {
	WaitN(ctx context.Context, n int) error
}

func (o *ResyncOptions) defaults() error {
	if o.Source == nil || o.Target == nil {
		return errors.New("resync needs a source and a target")
	}
	if o.Source.BaseURL() == o.Target.BaseURL() {
		return fmt.Errorf("source %s and target %s are the same server", o.Source, o.Target)
	}
	if !o.Start.IsZero() && !o.End.IsZero() && !o.Start.Before(o.End) {
		return fmt.Errorf("start %s is not before end %s", o.Start.Format(time.RFC3339Nano), o.End.Format(time.RFC3339Nano))
	}
	if o.Bucket <= 0 {
		o.Bucket = time.Hour
	}
	if o.Bucket > maxBucket {
		return fmt.Errorf("bucket %v is longer than %v", o.Bucket, maxBucket)
	}
	o.Concurrency = cmp.Or(max(o.Concurrency, 0), 2)
	o.BatchSize = cmp.Or(max(o.BatchSize, 0), 5000)
	o.ChunkSize = cmp.Or(max(o.ChunkSize, 0), 10000)
	o.Passes = cmp.Or(max(o.Passes, 0), 3)
	o.Requests.defaults()
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.limiter == nil && o.Rate > 0 {
		// The burst is one batch: a batch is the unit that waits.
		o.limiter = rate.NewLimiter(rate.Limit(o.Rate), o.BatchSize)
	}
	return nil
}

// ResyncResult is the outcome of Resync.
type ResyncResult struct {
	// Started is when the resync started (its first run, when resumed).
	Started time.Time
	// Schema lists the statements run on the target.
	Schema []string
	// Resumed is the number of buckets an earlier, interrupted run copied.
	Resumed int
	// Equal is the number of buckets not copied because source and target
	// already agreed on them.
	Equal int
	// Copied is the number of bucket copies made by this run (a bucket
	// copied again after a comparison pass counts again).
	Copied int
	// Points is the number of points written to the target.
	Points int64
	// Remaining are the differences left after the last comparison pass.
	Remaining []Difference
	// Rejected are the buckets whose points the target refused (HTTP 400:
	// a field type conflict, points beyond its retention policy).
	Rejected []Bucket
}

// Agreed reports whether the last comparison found no difference.
func (r *ResyncResult) Agreed() bool { return len(r.Remaining) == 0 }

// Resync brings Target in line with Source: schema first (databases,
// retention policies with duration, shard duration, replication and the
// default flag), then the data, bucket by bucket, skipping buckets that
// already agree and buckets an interrupted earlier run copied; then up to
// Passes comparisons of the whole range, copying again what differs (a
// live overwrite can race with the copy; see the package doc). It returns an
// error when it could not finish (a backend failed, the target rejected
// points, ctx was cancelled); the progress file then lets the next run
// resume.
func Resync(ctx context.Context, o ResyncOptions) (*ResyncResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	params := runParams{Source: o.Source.Name(), Target: o.Target.Name(), Database: o.Database,
		Start: timeParam(o.Start), End: timeParam(o.End), BucketNS: int64(o.Bucket)}
	st, note, err := loadState(o.StatePath, params, o.now(), o.Restart)
	if err != nil {
		return nil, err
	}
	if note != "" {
		fmt.Fprintln(o.Out, note)
	}
	if err := st.save(); err != nil {
		return nil, err
	}
	src, dst := newServer(o.Source, o.Concurrency, o.Requests), newServer(o.Target, o.Concurrency, o.Requests)
	r := &resyncer{o: o, st: st, src: src, dst: dst, bs: []*server{src, dst},
		res: &ResyncResult{Started: st.started(), Resumed: st.copied()}, rejected: map[Bucket]bool{}}
	if err := r.run(ctx); err != nil {
		return r.res, err
	}
	return r.res, st.remove()
}

func timeParam(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

type resyncer struct {
	o        ResyncOptions
	st       *progressState
	src, dst *server    // o.Source, o.Target
	bs       []*server  // src, dst
	mu       sync.Mutex // guards res, rejected and writes to o.Out
	res      *ResyncResult
	rejected map[Bucket]bool
}

// job is one bucket to copy.
type job struct {
	u      *unit
	start  int64
	points int64 // the source's estimate
}

func (r *resyncer) run(ctx context.Context) error {
	units, err := r.schema(ctx)
	if err != nil {
		return err
	}
	if units, err = r.plan(ctx, units); err != nil {
		return err
	}
	jobs, err := r.firstPass(ctx, units)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.o.Out, "%d measurement(s) to compare; copying %d bucket(s) of about %d points (%d already agree, %d copied earlier)\n",
		len(units), len(jobs), sumPoints(jobs), r.res.Equal, r.res.Resumed)
	if err := r.copy(ctx, "copy", jobs, true); err != nil {
		return err
	}
	if r.o.CQBackfill {
		if err := r.backfill(ctx, units); err != nil {
			return err
		}
	}
	bucket := int64(r.o.Bucket)
	for pass := 1; ; pass++ {
		diffs, _, err := findDiffs(ctx, r.bs, units, bucket, r.o.Concurrency, r.o.Recheck)
		if err != nil {
			return err
		}
		if len(diffs) == 0 {
			fmt.Fprintf(r.o.Out, "comparison pass %d: %s and %s agree\n", pass, r.src.Name, r.dst.Name)
			return nil
		}
		jobs = jobs[:0]
		for _, d := range diffs {
			b := Bucket{Database: d.u.db, RetentionPolicy: d.u.rp, Measurement: d.u.m, Start: time.Unix(0, d.diff.start).UTC()}
			if n := d.diff.stats[0].points(); n > 0 && !r.rejected[b] {
				jobs = append(jobs, job{d.u, d.diff.start, n})
			}
		}
		if pass >= r.o.Passes || len(jobs) == 0 {
			for _, d := range diffs {
				r.res.Remaining = append(r.res.Remaining, d.difference(r.bs))
			}
			fmt.Fprintf(r.o.Out, "comparison pass %d: %d bucket(s) still differ\n", pass, len(diffs))
			return nil
		}
		fmt.Fprintf(r.o.Out, "comparison pass %d: %d bucket(s) differ (writes during the copy?); copying them again\n", pass, len(diffs))
		for _, d := range diffs {
			fmt.Fprintf(r.o.Out, "  %s.%s.%s %s: %s\n", d.u.db, d.u.rp, d.u.m, time.Unix(0, d.diff.start).UTC().Format(time.RFC3339),
				d.diff.describe(memberNames(r.bs, []int{0, 1})))
		}
		if err := r.copy(ctx, "re-copy", jobs, false); err != nil {
			return err
		}
	}
}

func sumPoints(jobs []job) int64 {
	var n int64
	for _, j := range jobs {
		n += j.points
	}
	return n
}

// schema creates on the target what the source has: databases and their
// retention policies, with the same duration, shard duration, replication
// and default. It returns one unit per retention policy and measurement of
// the source.
func (r *resyncer) schema(ctx context.Context) ([]unit, error) {
	src, dst := r.src, r.dst
	srcDBs, err := src.databases(ctx)
	if err != nil {
		return nil, err
	}
	dstDBs, err := dst.databases(ctx)
	if err != nil {
		return nil, err
	}
	if r.o.Database != "" {
		if !slices.Contains(srcDBs, r.o.Database) {
			return nil, fmt.Errorf("database %q does not exist on %s", r.o.Database, src)
		}
		srcDBs = []string{r.o.Database}
	}
	var units []unit
	for _, db := range srcDBs {
		rps, err := copySchema(ctx, src, dst, db, slices.Contains(dstDBs, db), schemaAlter,
			func(q string) error { return r.exec(ctx, q) },
			func(note string) { fmt.Fprintln(r.o.Out, "note: "+note) })
		if err != nil {
			return nil, err
		}
		ms, err := src.measurements(ctx, db)
		if err != nil {
			return nil, err
		}
		for _, p := range rps {
			for _, m := range ms {
				units = append(units, unit{db: db, rp: p.Name, m: m, members: []int{0}})
			}
		}
	}
	return units, nil
}

// What copySchema does with a retention policy the target has with other
// settings (schemaAlter) and with continuous queries (schemaCQs).
const (
	schemaAlter = 1 << iota
	schemaCQs
)

// copySchema creates db on dst as src has it (dstHas: dst has the
// database already): the database with src's default retention policy (so
// that no autogen policy appears that src lacks), the missing retention
// policies with src's duration, shard duration, replication and default
// flag; with schemaAlter, policies with other settings are altered to
// match; with schemaCQs, the continuous queries dst lacks (by name) are
// created. Each statement goes through exec; note receives what is left
// alone. It returns src's retention policies.
func copySchema(ctx context.Context, src, dst *server, db string, dstHas bool, what int,
	exec func(q string) error, note func(string)) ([]retentionPolicy, error) {
	rps, err := src.retentionPolicies(ctx, db)
	if err != nil {
		return nil, err
	}
	// The default policy goes last, so that its DEFAULT is the one
	// that stays.
	slices.SortStableFunc(rps, func(a, b retentionPolicy) int {
		return cmp.Compare(boolInt(a.Default), boolInt(b.Default))
	})
	var have []retentionPolicy
	if dstHas {
		if have, err = dst.retentionPolicies(ctx, db); err != nil {
			return nil, err
		}
	} else {
		q := "CREATE DATABASE " + quoteIdent(db)
		if i := slices.IndexFunc(rps, func(p retentionPolicy) bool { return p.Default }); i >= 0 {
			p := rps[i]
			q += fmt.Sprintf(" WITH DURATION %s REPLICATION %d SHARD DURATION %s NAME %s",
				rpDuration(p.Duration), max(p.Replication, 1), durationLit(p.ShardDuration), quoteIdent(p.Name))
			have = []retentionPolicy{p}
		}
		if err := exec(q); err != nil {
			return nil, err
		}
	}
	for _, p := range rps {
		i := slices.IndexFunc(have, func(h retentionPolicy) bool { return h.Name == p.Name })
		def := ""
		if p.Default {
			def = " DEFAULT"
		}
		switch {
		case i < 0:
			err = exec(fmt.Sprintf("CREATE RETENTION POLICY %s ON %s DURATION %s REPLICATION %d SHARD DURATION %s%s",
				quoteIdent(p.Name), quoteIdent(db), rpDuration(p.Duration), max(p.Replication, 1), durationLit(p.ShardDuration), def))
		case have[i].Duration != p.Duration || have[i].ShardDuration != p.ShardDuration || p.Default && !have[i].Default:
			if what&schemaAlter == 0 {
				note(fmt.Sprintf("retention policy %s.%s differs between %s and %s; left alone", db, p.Name, src.Name, dst.Name))
				break
			}
			err = exec(fmt.Sprintf("ALTER RETENTION POLICY %s ON %s DURATION %s SHARD DURATION %s%s",
				quoteIdent(p.Name), quoteIdent(db), rpDuration(p.Duration), durationLit(p.ShardDuration), def))
		}
		if err != nil {
			return nil, err
		}
	}
	for _, h := range have {
		if !slices.ContainsFunc(rps, func(p retentionPolicy) bool { return p.Name == h.Name }) {
			note(fmt.Sprintf("%s has retention policy %s.%s, which %s lacks; left alone", dst.Name, db, h.Name, src.Name))
		}
	}
	if what&schemaCQs != 0 {
		if err := copyCQs(ctx, src, dst, db, exec); err != nil {
			return nil, err
		}
	}
	return rps, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (r *resyncer) exec(ctx context.Context, q string) error {
	if err := r.dst.exec(ctx, q); err != nil {
		return err
	}
	r.res.Schema = append(r.res.Schema, q)
	fmt.Fprintf(r.o.Out, "%s: %s\n", r.dst.Name, q)
	return nil
}

// plan reads each unit's field types and time range on the source and
// drops the units without data in range.
func (r *resyncer) plan(ctx context.Context, units []unit) ([]unit, error) {
	keep := make([]bool, len(units))
	err := pool(ctx, r.o.Concurrency, len(units), func(ctx context.Context, k int) error {
		u := &units[k]
		types, err := r.src.fieldTypes(ctx, u.db, u.rp, u.m)
		if err != nil || len(types) == 0 {
			return err
		}
		u.types = types
		rng, ok, err := dataRange(ctx, r.bs, u, r.o.Start, r.o.End)
		if err != nil || !ok {
			return err
		}
		u.rng, u.members, keep[k] = rng, []int{0, 1}, true
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
	return out, nil
}

// firstPass compares the buckets not yet copied and returns those in which
// the target differs from the source, in time order per unit.
func (r *resyncer) firstPass(ctx context.Context, units []unit) ([]job, error) {
	bucket := int64(r.o.Bucket)
	var jobs []job
	skip := func(u *unit, w span) bool { return r.st.done(u.db, u.rp, u.m, w) }
	err := scan(ctx, r.bs, units, bucket, r.o.Concurrency, skip, func(u *unit, _ span, per []map[int64]stats) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for t, s := range per[0] {
			switch {
			case r.st.done(u.db, u.rp, u.m, bucketSpan(t, bucket, u.rng)):
			case len(differ(s, per[1][t], u.types)) == 0:
				r.res.Equal++
			default:
				jobs = append(jobs, job{u, t, s.points()})
			}
		}
	})
	slices.SortFunc(jobs, func(a, b job) int {
		return cmp.Or(strings.Compare(a.u.db, b.u.db), strings.Compare(a.u.rp, b.u.rp),
			strings.Compare(a.u.m, b.u.m), cmp.Compare(a.start, b.start))
	})
	return jobs, err
}

// copy copies the jobs' buckets, at most Concurrency at once; record says
// whether finished buckets go into the progress file.
func (r *resyncer) copy(ctx context.Context, phase string, jobs []job, record bool) error {
	if len(jobs) == 0 {
		return nil
	}
	p := r.o.Progress
	if p == nil {
		p = nopProgress{}
	}
	p.Start(phase, sumPoints(jobs))
	defer p.Finish()
	bucket := int64(r.o.Bucket)
	return pool(ctx, r.o.Concurrency, len(jobs), func(ctx context.Context, k int) error {
		j := jobs[k]
		w := bucketSpan(j.start, bucket, j.u.rng)
		b := Bucket{Database: j.u.db, RetentionPolicy: j.u.rp, Measurement: j.u.m, Start: time.Unix(0, j.start).UTC()}
		n, err := r.copyBucket(ctx, j.u, w, p)
		var be *backend.Error
		done := true
		r.mu.Lock()
		r.res.Points += n
		switch {
		case err == nil:
			r.res.Copied++
		case errors.As(err, &be) && be.Status == http.StatusBadRequest:
			// The target refuses these points (a field type conflict,
			// points beyond its retention): the other buckets can still
			// be copied, and the final comparison reports this one.
			r.res.Rejected = append(r.res.Rejected, b)
			r.rejected[b] = true
			fmt.Fprintf(r.o.Out, "%s rejected points of %s: %v\n", r.dst.Name, b, be.Err)
			err, done = nil, false
		}
		r.mu.Unlock()
		if err != nil || !done {
			return err
		}
		if record {
			if err := r.st.markDone(j.u.db, j.u.rp, j.u.m, w, n); err != nil {
				return err
			}
		}
		p.BucketDone(b)
		return nil
	})
}

// copyBucket streams the points of u in w from the source and writes them
// to the target in batches, returning how many it wrote.
func (r *resyncer) copyBucket(ctx context.Context, u *unit, w span, p Progress) (int64, error) {
	return copyBucketTo(ctx, r.src, []*server{r.dst}, u, w, copyParams{batch: r.o.BatchSize, chunk: r.o.ChunkSize, limiter: r.o.limiter}, p)
}

// copyParams tune copyBucketTo.
type copyParams struct {
	batch, chunk int    // lines per write, rows per chunk of the source's answer
	limiter      waiter // nil: no limit; each write to each target waits for its lines
}

// copyBucketTo streams the points of u in w from src (GROUP BY *, so that
// tags and fields are told apart) and writes them to every target in
// batches of typed line protocol, returning how many points it wrote to
// each target.
func copyBucketTo(ctx context.Context, src *server, dsts []*server, u *unit, w span, cp copyParams, p Progress) (int64, error) {
	q := fmt.Sprintf("SELECT * FROM %s WHERE %s GROUP BY *", source(u.rp, u.m), where(u.cond, w))
	rend := lineRenderer{types: u.types}
	var (
		buf     []byte
		lines   int
		written int64
	)
	flush := func() error {
		if lines == 0 {
			return nil
		}
		for _, dst := range dsts {
			if cp.limiter != nil {
				if err := cp.limiter.WaitN(ctx, lines); err != nil {
					return err
				}
			}
			if err := dst.write(ctx, u.db, u.rp, buf); err != nil {
				return err
			}
		}
		p.Add(int64(lines))
		written += int64(lines)
		buf, lines = buf[:0], 0
		return nil
	}
	err := src.queryChunked(ctx, u.db, q, cp.chunk, func(s backend.Series) error {
		rows := s.Values
		for len(rows) > 0 {
			part := s
			part.Values = rows[:min(len(rows), cp.batch-lines)]
			rows = rows[len(part.Values):]
			var n int
			var err error
			if buf, n, err = rend.appendSeries(buf, part); err != nil {
				return fmt.Errorf("%s.%s.%s: %w", u.db, u.rp, u.m, err)
			}
			if lines += n; lines >= cp.batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return written, err
}

type nopProgress struct{}

func (nopProgress) Start(string, int64) {}
func (nopProgress) Add(int64)           {}
func (nopProgress) BucketDone(Bucket)   {}
func (nopProgress) Finish()             {}

// backfill recomputes the target's continuous queries over the copied
// range of every retention policy (package backfill has the rules).
func (r *resyncer) backfill(ctx context.Context, units []unit) error {
	ranges := map[[2]string]*backfill.Range{}
	for _, u := range units {
		k := [2]string{u.db, u.rp}
		last := u.rng.to - 1 // rng.to is exclusive, Range.To inclusive
		if rg := ranges[k]; rg == nil {
			ranges[k] = &backfill.Range{DB: u.db, RP: u.rp, From: u.rng.from, To: last}
		} else {
			rg.From, rg.To = min(rg.From, u.rng.from), max(rg.To, last)
		}
	}
	var spec backfill.Spec
	for _, rg := range ranges {
		spec.Ranges = append(spec.Ranges, *rg)
	}
	res, err := backfill.NewRunner(r.dst.c).Run(ctx, spec)
	if err != nil {
		return fmt.Errorf("recompute continuous queries on %s: %w", r.dst.Name, err)
	}
	fmt.Fprintf(r.o.Out, "continuous queries recomputed on %s over the copied range: %d statement(s), %d interval(s)\n",
		r.dst.Name, res.Statements, res.Intervals)
	for _, f := range res.Failed {
		fmt.Fprintf(r.o.Out, "  refused: %s\n", f)
	}
	if res.Skipped > 0 {
		fmt.Fprintf(r.o.Out, "  %d interval(s) left alone: their source data is beyond its retention policy\n", res.Skipped)
	}
	return nil
}
