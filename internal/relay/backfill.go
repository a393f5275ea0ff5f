package relay

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/influxql"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/backfill"
	"github.com/influxgate/influxgate/internal/record"
)

// backfiller recomputes continuous queries on one backend
// (*backfill.Runner).
type backfiller interface {
	Run(ctx context.Context, s backfill.Spec) (backfill.Result, error)
}

// cqBackfill is a worker's share of continuous-query backfill (package
// backfill has the why): it notes the records the backend received late,
// logs a backfill record addressed to the backend once it is caught up,
// and runs such records when the worker reaches them.
type cqBackfill struct {
	pending *backfill.Pending // kept in the state store (StateBackfill)
	runner  backfiller
	// appendRecord logs a record (the relay's log).
	appendRecord func(rec *record.Record) (uint64, error)
	metrics      workerMetrics

	queued atomic.Uint64 // index of a backfill record logged and not run yet; 0 = none

	// recent holds, per database and retention policy, when the backend
	// last accepted a write for it (worker goroutine only).
	recent map[[2]string]time.Time

	mu      sync.Mutex
	running bool
	last    BackfillRun
	runs    uint64
	failed  uint64
}

// BackfillStatus is a backend's continuous-query backfill, for /health and
// the status page.
type BackfillStatus struct {
	// State is "idle", "pending" (points arrived late; a backfill is due
	// once the backend is caught up), "queued" (its record is in the log)
	// or "running".
	State string
	Runs  uint64 // runs that finished
	// Failures counts runs that met a passing failure (and were tried
	// again) or continuous queries the backend refused to run.
	Failures uint64
	Last     BackfillRun
}

// BackfillRun is the outcome of the last run.
type BackfillRun struct {
	At         time.Time
	Statements int
	Intervals  int64
	Skipped    int64    // intervals whose source data is beyond retention
	Failed     []string // continuous queries the backend refused to run
	Error      string   // a passing failure; the run is tried again
}

func (b *cqBackfill) status() *BackfillStatus {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st := &BackfillStatus{State: "idle", Runs: b.runs, Failures: b.failed, Last: b.last}
	switch {
	case b.running:
		st.State = "running"
	case b.queued.Load() != 0:
		st.State = "queued"
	case !b.pending.Empty():
		st.State = "pending"
	}
	return st
}

// savePending stores the pending backfill when it changed.
func (w *worker) savePending() error {
	data, changed := w.cq.pending.Changed()
	if !changed {
		return nil
	}
	var err error
	if data == nil {
		err = w.store.DeleteState(w.name, StateBackfill)
	} else {
		err = w.store.StoreState(w.name, StateBackfill, data)
	}
	if err != nil {
		w.cq.pending.Touch()
	}
	return err
}

// loadPending sets the pending backfill from the store: at start, and
// when this node takes the backend over from another (which noted what
// the backend received late until then).
func (w *worker) loadPending() {
	data, _, err := w.store.LoadState(w.name, StateBackfill)
	if err == nil {
		err = w.cq.pending.Restore(data)
	}
	if err != nil {
		w.log.Error("cannot read the pending continuous-query backfill; keeping what this node has", "err", err)
	}
}

// noteLate adds the records the backend has just received to the pending
// backfill when they arrived late: more than live-lag after influxgate
// accepted them, so the backend may have run a continuous query over their
// interval before it had them.
func (w *worker) noteLate(recs []pending) {
	if w.cq == nil {
		return
	}
	for i := range recs {
		rec := &recs[i].rec
		if time.Since(time.Unix(0, rec.Received)) <= w.liveLag {
			continue
		}
		switch rec.Kind {
		case record.KindWrite:
			w.cq.pending.AddWrite(rec)
		case record.KindQuery:
			w.cq.pending.AddStatement(rec)
		}
	}
}

// downLookback is how far before a backend is found down its continuous
// queries may have missed a run, on top of max-delay-interval (how long
// finding it down can take): the interval in progress when it stopped,
// and one that ended just before, whose run was still due.
const downLookback = 10 * time.Second

// noteDelivered remembers that the backend accepted a write for rec's
// database and retention policy now.
func (w *worker) noteDelivered(rec *record.Record) {
	if w.cq == nil || rec.Kind != record.KindWrite {
		return
	}
	if w.cq.recent == nil {
		w.cq.recent = make(map[[2]string]time.Time)
	}
	w.cq.recent[[2]string{rec.DB, rec.RP}] = time.Now()
}

// noteDown adds, when the backend is found down, the recent past of every
// database it was receiving writes for: a server that stops never runs its
// continuous queries over the interval in progress, even though it had
// received those points on time.
func (w *worker) noteDown() {
	if w.cq == nil {
		return
	}
	now := time.Now()
	from := now.Add(-downLookback - w.maxDelay)
	for k, at := range w.cq.recent {
		if at.Before(from) {
			delete(w.cq.recent, k)
			continue
		}
		w.cq.pending.AddSpan(k[0], k[1], from.UnixNano(), now.UnixNano())
	}
}

// queueBackfill logs a backfill record for the backend once it is caught
// up and points arrived late. The record goes to the end of the log: the
// backend runs it after every write it has now, in order with the writes
// that follow.
func (w *worker) queueBackfill() {
	if w.cq == nil || w.cq.pending.Empty() {
		return
	}
	spec := w.cq.pending.Spec()
	rec := record.Record{Kind: record.KindBackfill, Only: w.name, Received: time.Now().UnixNano(), Body: spec.Encode()}
	idx, err := w.cq.appendRecord(&rec)
	if err != nil {
		w.quiet.Warn("backfill_append", "cannot log the continuous-query backfill; trying again later", "err", err)
		return
	}
	w.cq.pending.Reset()
	w.cq.queued.Store(idx)
	w.log.Info("backend caught up after receiving points late: continuous queries will be recomputed for their intervals",
		"ranges", len(spec.Ranges), "record", idx)
}

// runBackfill runs a backfill record on the backend. A passing failure
// is transient (the record stays at the cursor and is run again); a
// continuous query the backend refuses is logged and counted, and the
// others are recomputed.
func (w *worker) runBackfill(ctx context.Context, idx uint64, rec *record.Record) backend.Result {
	if w.cq == nil {
		return backend.Result{Class: backend.Accepted, Status: 204, Reason: "backfill_disabled"}
	}
	spec, err := backfill.Decode(rec.Body)
	if err != nil {
		w.log.Error("skipping an unreadable backfill record", "err", err)
		return backend.Result{Class: backend.Accepted, Status: 204, Reason: "backfill_unreadable"}
	}
	return w.runSpec(ctx, spec, func() {
		w.cq.queued.CompareAndSwap(idx, 0)
	})
}

func (w *worker) runSpec(ctx context.Context, spec backfill.Spec, done func()) backend.Result {
	b := w.cq
	b.mu.Lock()
	b.running = true
	b.mu.Unlock()
	res, err := b.runner.Run(ctx, spec)
	run := BackfillRun{At: time.Now(), Statements: res.Statements, Intervals: res.Intervals,
		Skipped: res.Skipped, Failed: res.Failed}
	b.mu.Lock()
	b.running = false
	if err != nil {
		run.Error = backend.Redact(err).Error()
		b.failed++
	} else {
		b.runs++
		b.failed += uint64(len(res.Failed))
	}
	b.last = run
	b.mu.Unlock()
	outcome := "done"
	switch {
	case err != nil:
		outcome = "retry"
	case len(res.Failed) > 0:
		outcome = "partial"
	}
	b.metrics.backfillRun(outcome, res.Intervals)
	if err != nil {
		return backend.Result{Class: backend.Transient, Reason: "backfill", Err: fmt.Errorf("continuous-query backfill: %w", err)}
	}
	if done != nil {
		done()
	}
	if len(res.Failed) > 0 {
		w.log.Warn("the backend refused to recompute some continuous queries; their results may differ from the other replicas'",
			"failed", strings.Join(res.Failed, "; "))
	}
	if res.Skipped > 0 {
		w.log.Warn("continuous-query intervals whose source data is beyond its retention policy were not recomputed",
			"intervals", res.Skipped)
	}
	w.log.Info("continuous queries recomputed for the points received late",
		"statements", res.Statements, "intervals", res.Intervals)
	return backend.Result{Class: backend.Accepted, Status: 204, Reason: "backfill"}
}

// beforeDrop runs, before a statement that drops continuous queries (DROP
// CONTINUOUS QUERY, DROP DATABASE) reaches a backend that received points
// late, the backfill of those queries: once dropped, they can no longer be
// recomputed, though the replicas that were up ran them until the drop.
func (w *worker) beforeDrop(ctx context.Context, rec *record.Record) *backend.Result {
	if w.cq == nil || w.cq.pending.Empty() {
		return nil
	}
	q, err := influxql.ParseQuery(string(rec.Body))
	if err != nil {
		return nil
	}
	for _, st := range q.Statements {
		var ref *backfill.CQRef
		switch s := st.(type) {
		case *influxql.DropContinuousQueryStatement:
			ref = &backfill.CQRef{DB: s.Database, Name: s.Name, At: rec.Received}
		case *influxql.DropDatabaseStatement:
			ref = &backfill.CQRef{DB: s.Name, At: rec.Received}
		default:
			continue
		}
		spec := w.cq.pending.Spec()
		spec.Dropping = ref
		if res := w.runSpec(ctx, spec, nil); res.Class != backend.Accepted {
			return &res
		}
	}
	return nil
}
