package backfill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/influxdata/influxql"

	"github.com/influxgate/influxgate/internal/backend"
)

// Querier is what a Runner needs of a backend: *backend.Client.
type Querier interface {
	Query(ctx context.Context, db, q string) (backend.QueryResult, error)
	ExecStatement(ctx context.Context, db, q string) error
}

// Runner recomputes continuous queries on one backend.
type Runner struct {
	q   Querier
	now func() time.Time
	// maxIntervals bounds the GROUP BY time() intervals one statement
	// recomputes, so that a long outage becomes several moderate queries.
	maxIntervals int64
}

// NewRunner returns a runner for the backend q.
func NewRunner(q Querier) *Runner { return &Runner{q: q, now: time.Now, maxIntervals: 1000} }

// Result says what a run did.
type Result struct {
	// Statements is how many SELECT ... INTO statements ran.
	Statements int
	// Intervals is how many GROUP BY time() intervals they recomputed.
	Intervals int64
	// Skipped counts intervals left alone because their source data is
	// beyond the retention policy's duration (InfluxDB no longer has it).
	Skipped int64
	// Failed lists continuous queries the backend refused to run (a
	// statement error, not a passing failure), with its message.
	Failed []string
}

// CQ is one continuous query of a backend.
type CQ struct {
	DB, Name string
	Stmt     *influxql.CreateContinuousQueryStatement
}

// Run recomputes, for every continuous query of the databases in s, the
// intervals the late points touch. A passing failure (backend down,
// timeout, 5xx) is returned at once: the whole run is tried again later,
// which is harmless, since recomputing an interval writes the same points.
// A continuous query the backend refuses to run is reported in
// Result.Failed and the others go on.
func (r *Runner) Run(ctx context.Context, s Spec) (Result, error) {
	var res Result
	if s.Empty() {
		return res, nil
	}
	cqs, unreadable, err := r.continuousQueries(ctx)
	if err != nil {
		return res, err
	}
	res.Failed = append(res.Failed, unreadable...)
	policies := map[string]map[string]rpInfo{}
	for _, cq := range cqs {
		if s.Dropping != nil && (cq.DB != s.Dropping.DB || (s.Dropping.Name != "" && cq.Name != s.Dropping.Name)) {
			continue
		}
		if _, ok := policies[cq.DB]; !ok && hasDB(s, cq.DB) {
			p, err := r.retentionPolicies(ctx, cq.DB)
			if err != nil {
				return res, err
			}
			policies[cq.DB] = p
		}
		plan, ok := r.plan(cq, s, policies[cq.DB])
		if !ok {
			continue
		}
		res.Skipped += plan.skipped
		for _, w := range plan.windows {
			stmt := cq.Stmt.Source.Clone()
			if err := stmt.SetTimeRange(time.Unix(0, w.start), time.Unix(0, w.end)); err != nil {
				res.Failed = append(res.Failed, fmt.Sprintf("%s.%s: %v", cq.DB, cq.Name, err))
				break
			}
			err := r.q.ExecStatement(ctx, cq.DB, stmt.String())
			if err == nil {
				res.Statements++
				res.Intervals += w.intervals
				continue
			}
			var be *backend.Error
			if !errors.As(err, &be) || be.Transient() {
				return res, err
			}
			res.Failed = append(res.Failed, fmt.Sprintf("%s.%s: %s", cq.DB, cq.Name, be.Err))
			break
		}
	}
	return res, nil
}

func hasDB(s Spec, db string) bool {
	for _, r := range s.Ranges {
		if r.DB == db {
			return true
		}
	}
	return false
}

// window is one statement's share of a plan: [start, end) in Unix ns.
type window struct {
	start, end int64
	intervals  int64
}

type plan struct {
	windows []window
	skipped int64
}

type rpInfo struct {
	duration time.Duration // 0 = infinite
	def      bool
}

// plan returns the windows to recompute for cq: the whole GROUP BY
// time() intervals (with the query's offset) that the late points of the
// retention policies it reads touch, that have ended by now, that the
// replicas that were up computed (not before the query's creation, not
// after its drop), and whose source data is still within its retention.
func (r *Runner) plan(cq CQ, s Spec, rps map[string]rpInfo) (plan, bool) {
	src := cq.Stmt.Source
	interval, err := src.GroupByInterval()
	if err != nil || interval <= 0 {
		return plan{}, false
	}
	offset, _ := src.GroupByOffset()
	iv, off := int64(interval), int64(offset)
	defRP := ""
	for name, p := range rps {
		if p.def {
			defRP = name
		}
	}
	reads := sourcePolicies(cq, defRP)
	var from, to int64
	found := false
	var retention time.Duration
	for _, rg := range s.Ranges {
		rp := rg.RP
		if rp == "" {
			rp = defRP
		}
		if rg.DB != cq.DB || (reads != nil && !reads[rp]) {
			continue
		}
		if !found || rg.From < from {
			from = rg.From
		}
		if !found || rg.To > to {
			to = rg.To
		}
		if d := rps[rp].duration; d > retention {
			retention = d
		}
		found = true
	}
	if !found {
		return plan{}, false
	}
	start, end := alignDown(from, iv, off), alignDown(to, iv, off)+iv
	now := r.now().UnixNano()
	end = min(end, alignDown(now, iv, off))
	// The window InfluxDB's continuous query service computes at a run
	// at time t: [align(t + interval - for - 1ns), align(t + interval -
	// every)), with every and for defaulting to the interval. The first
	// run of a query created at c starts there; the last run before a
	// drop at d ends there. (The service runs every run-interval, so the
	// replicas that were up ran a little after c and before d: exact up to
	// one run-interval around the CREATE and the DROP.)
	every, forDur := int64(cq.Stmt.ResampleEvery), int64(cq.Stmt.ResampleFor)
	if every == 0 {
		every = iv
	}
	if forDur == 0 {
		forDur = max(iv, every)
	}
	every = min(every, iv)
	if at := s.createdAt(cq.DB, cq.Name); at != 0 {
		start = max(start, alignDown(at+iv-forDur-1, iv, off))
	}
	if s.Dropping != nil {
		end = min(end, alignDown(s.Dropping.At+iv-every, iv, off))
	}
	var p plan
	if retention > 0 {
		if oldest := alignDown(now-int64(retention), iv, off) + iv; start < oldest {
			p.skipped = (min(oldest, end) - start) / iv
			start = oldest
		}
	}
	if p.skipped < 0 {
		p.skipped = 0
	}
	for a := start; a < end; {
		b := end
		if (end-a)/iv > r.maxIntervals {
			b = a + r.maxIntervals*iv
		}
		p.windows = append(p.windows, window{start: a, end: b, intervals: (b - a) / iv})
		a = b
	}
	return p, len(p.windows) > 0 || p.skipped > 0
}

// sourcePolicies returns the retention policies cq reads (its FROM
// measurements in its own database), or nil when that cannot be told
// (a subquery, another database's data): then every policy counts.
func sourcePolicies(cq CQ, defRP string) map[string]bool {
	out := map[string]bool{}
	for _, src := range cq.Stmt.Source.Sources {
		m, ok := src.(*influxql.Measurement)
		if !ok {
			return nil
		}
		if m.Database != "" && m.Database != cq.DB {
			continue
		}
		rp := m.RetentionPolicy
		if rp == "" {
			rp = defRP
		}
		out[rp] = true
	}
	return out
}

// alignDown returns the start of the GROUP BY time(iv, off) interval that
// holds t (floor, also for times before 1970).
func alignDown(t, iv, off int64) int64 {
	m := (t - off) % iv
	if m < 0 {
		m += iv
	}
	return t - m
}

// continuousQueries lists the backend's continuous queries, and those it
// lists that cannot be parsed (they are reported, never silently skipped).
func (r *Runner) continuousQueries(ctx context.Context) (out []CQ, unreadable []string, err error) {
	res, err := r.q.Query(ctx, "", "SHOW CONTINUOUS QUERIES")
	if err != nil {
		return nil, nil, err
	}
	for _, s := range res.Series {
		for _, row := range s.Values {
			if len(row) < 2 {
				continue
			}
			name, _ := row[0].(string)
			text, _ := row[1].(string)
			st, err := influxql.ParseStatement(text)
			cq, ok := st.(*influxql.CreateContinuousQueryStatement)
			if err != nil || !ok {
				unreadable = append(unreadable, fmt.Sprintf("%s.%s: cannot parse %q: %v", s.Name, name, text, err))
				continue
			}
			out = append(out, CQ{DB: s.Name, Name: name, Stmt: cq})
		}
	}
	return out, unreadable, nil
}

// retentionPolicies returns the database's retention policies by name.
func (r *Runner) retentionPolicies(ctx context.Context, db string) (map[string]rpInfo, error) {
	res, err := r.q.Query(ctx, db, "SHOW RETENTION POLICIES ON "+influxql.QuoteIdent(db))
	if err != nil {
		var be *backend.Error
		if errors.As(err, &be) && be.Reason == "db_not_found" {
			return map[string]rpInfo{}, nil
		}
		return nil, err
	}
	out := map[string]rpInfo{}
	for _, s := range res.Series {
		col := map[string]int{}
		for i, c := range s.Columns {
			col[c] = i
		}
		for _, row := range s.Values {
			name, _ := row[col["name"]].(string)
			var info rpInfo
			if d, ok := row[col["duration"]].(string); ok {
				info.duration, _ = parseRPDuration(d)
			}
			info.def, _ = row[col["default"]].(bool)
			out[name] = info
		}
	}
	return out, nil
}

// parseRPDuration parses InfluxDB's rendering of a retention duration
// ("0s" is infinite, "168h0m0s").
func parseRPDuration(s string) (time.Duration, error) {
	if s == "0s" || s == "0" || strings.TrimSpace(s) == "" {
		return 0, nil
	}
	return time.ParseDuration(s)
}
