package relay

import (
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/influxgate/influxgate/internal/backfill"
	"github.com/influxgate/influxgate/internal/config"
)

// Change is a new set of outputs prepared for a relay and not yet in
// force: a reload prepares every listener's change first and commits them
// only when all could be prepared, so that a failed reload changes
// nothing. Exactly one of Commit or Abort must be called.
type Change struct {
	r   *Relay
	set *workerSet
	// fresh are outputs without a usable stored cursor (new, or damaged):
	// Commit stores where they start before they deliver anything.
	fresh map[string]bool
	// opened are dead-letter stores this change opened (Abort closes them;
	// the others belong to the running set and are handed on).
	opened []DeadLetterStore
	// writeTimeout, when set, replaces the relay's write timeout.
	writeTimeout time.Duration
}

// Reconfigure replaces the relay's outputs without closing its log: an
// output that stays (same name) resumes from its cursor with its new
// settings; a new one starts at the head of the log; the cursor of a
// removed one is forgotten. It is Prepare followed by Commit.
func (r *Relay) Reconfigure(outputs []config.OutputConfig, writeTimeout, deadLetterAfter time.Duration) error {
	ch, err := r.Prepare(outputs, writeTimeout, deadLetterAfter)
	if err != nil {
		return err
	}
	return ch.Commit()
}

// Prepare builds the workers of a new output list without touching the
// running ones or anything on disk but the new outputs' dead-letter
// directories.
func (r *Relay) Prepare(outputs []config.OutputConfig, writeTimeout, deadLetterAfter time.Duration) (*Change, error) {
	if err := checkOutputs(r.opts.Name, outputs); err != nil {
		return nil, err
	}
	if deadLetterAfter <= 0 {
		deadLetterAfter = r.opts.DeadLetterAfter
	}
	if cur := r.set.Load(); reflect.DeepEqual(outputs, cur.outputs) && deadLetterAfter == cur.deadLetterAfter {
		// Nothing the workers use changed: they go on undisturbed.
		return &Change{r: r, writeTimeout: writeTimeout}, nil
	}
	ch, err := r.prepare(outputs, deadLetterAfter)
	if err != nil {
		return nil, err
	}
	ch.writeTimeout = writeTimeout
	return ch, nil
}

func (r *Relay) prepare(outputs []config.OutputConfig, deadLetterAfter time.Duration) (*Change, error) {
	old := r.set.Load()
	set := &workerSet{outputs: outputs, deadLetterAfter: deadLetterAfter,
		byName: make(map[string]*worker), tracker: newTracker()}
	ch := &Change{r: r, set: set, fresh: make(map[string]bool)}
	damaged := r.cursors.Damaged()
	for i, o := range outputs {
		var prev *worker
		if old != nil {
			prev = old.byName[o.Name]
		}
		w, err := r.newWorker(ch, set, i, o, prev, damaged[o.Name], deadLetterAfter)
		if err != nil {
			ch.Abort()
			return nil, fmt.Errorf("output %q: %w", o.Name, err)
		}
		set.workers = append(set.workers, w)
		set.byName[o.Name] = w
		set.all |= w.bit
	}
	return ch, nil
}

// newWorker builds the worker of output o at position i, resuming from
// its stored cursor (or from prev, the running worker of the same name).
func (r *Relay) newWorker(ch *Change, set *workerSet, i int, o config.OutputConfig, prev *worker, damaged error, deadLetterAfter time.Duration) (*worker, error) {
	sender, err := r.opts.NewSender(o)
	if err != nil {
		return nil, err
	}
	cfg := workerConfig{name: o.Name, bit: 1 << i, location: o.Location.String(),
		maxBatch: o.MaxBatchKB << 10, capBytes: int64(o.BufferSizeMB) << 20, capMB: o.BufferSizeMB,
		dropOldest: o.Overflow != "reject", maxDelay: o.MaxDelayInterval,
		liveLag: r.opts.LiveLag, deadLetterAfter: deadLetterAfter}
	if cfg.maxBatch <= 0 {
		cfg.maxBatch = 50 << 10
	}
	if cfg.maxDelay <= 0 {
		cfg.maxDelay = 10 * time.Second
	}
	logger := r.logger.With("backend", o.Name)
	deps := workerDeps{sender: sender, source: r.log, verdicts: set.tracker, peers: set,
		metrics: r.metrics.forWorker(r.opts.Name, o.Name), logger: logger,
		store: r.state}
	if r.shared != nil {
		deps.verdicts = sharedVerdicts{tracker: set.tracker, shared: r.shared, name: o.Name}
		deps.lease, deps.node = r.shared.Lease(o.Name), r.shared.Node()
		deps.resume = func() uint64 { return r.resumeAt(o.Name, logger) }
	}
	if prev != nil {
		deps.dead = prev.dead
	} else {
		deps.dead = r.deadLetterStore(o.Name)
		ch.opened = append(ch.opened, deps.dead)
	}
	n, err := deps.dead.Open()
	if err != nil {
		sender.Close()
		return nil, fmt.Errorf("dead-letter store: %w", err)
	}
	start, note := r.startOf(o.Name, damaged, logger)
	if note != "" || start == 0 {
		ch.fresh[o.Name] = true
	}
	if start == 0 {
		start = r.log.LastIndex() + 1
	}
	w := newWorker(cfg, deps, start)
	if q, ok := sender.(backfill.Querier); ok && r.opts.CQBackfill {
		w.cq = &cqBackfill{runner: backfill.NewRunner(q), appendRecord: r.appendRecord, metrics: deps.metrics}
		if prev != nil && prev.cq != nil {
			w.cq.pending = prev.cq.pending
		} else {
			w.cq.pending = backfill.NewPending()
			if r.shared == nil {
				w.loadPending()
			}
		}
	}
	// The reader is opened now, not when the worker starts, so that the
	// backlog in bytes (and a reject cap) is right from the first write.
	rd, err := r.log.NewReader(start)
	if err != nil {
		sender.Close()
		return nil, fmt.Errorf("read the log from index %d: %w", start, err)
	}
	w.reader = rd
	w.nextOffset.Store(rd.Offset())
	w.cursorNote = note
	w.deadLetters.Store(n)
	if r.shared == nil {
		// With a shared log, hold loads it (and the pending backfill)
		// when this node takes the lease; until then the deliverer's
		// reports show it.
		w.loadDiverged()
	}
	return w, nil
}

// startOf returns where output name resumes: its stored cursor, fixed up
// when the log no longer matches it; the oldest record in the log when its
// cursor file was damaged (with a note saying so); 0 for a new output.
func (r *Relay) startOf(name string, damaged error, logger *slog.Logger) (uint64, string) {
	first, last := r.log.FirstIndex(), r.log.LastIndex()
	start, ok := r.cursors.Load(name)
	switch {
	case !ok && damaged != nil:
		start = first
		if start == 0 {
			start = last + 1
		}
		logger.Error("cursor file damaged: replaying from the oldest record still in the log, so that this backend misses nothing (records it already had arrive twice, which is harmless)",
			"err", damaged, "from_index", start)
		return start, fmt.Sprintf("cursor file was damaged at start (%v); replayed from index %d, the oldest record in the log", damaged, start)
	case !ok:
		if last > 0 {
			logger.Info("new output starts at the head of the log; older data can be copied with influxgate resync",
				"index", last+1)
		}
		return 0, ""
	case start > last+1:
		// The end of the log was lost on disk (the open-time repair cut
		// it) after this backend had received it. New writes get those
		// indexes again and this backend must receive them.
		logger.Error("cursor points past the end of the log: records this backend had received were lost from the log; continuing at its end",
			"cursor", start, "last_index", last)
		return last + 1, "cursor pointed past the end of the log"
	case first > 0 && start < first:
		logger.Error("cursor points before the oldest record in the log; records in between are missing",
			"cursor", start, "first", first)
		return first, ""
	}
	return start, ""
}

// Commit puts the change in force: the running workers stop, their
// cursors are stored, the new workers take over from where the old ones
// of the same name stopped, and start if the relay runs. Writes waiting
// on the old workers' verdicts are answered with what they have.
func (ch *Change) Commit() error {
	r := ch.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch.writeTimeout > 0 {
		r.writeTimeout.Store(int64(ch.writeTimeout))
	}
	if ch.set == nil {
		return nil
	}
	old := r.set.Load()
	if old != nil {
		old.stop()
		r.persistCursors(old)
		for _, w := range ch.set.workers {
			if prev := old.byName[w.name]; prev != nil {
				w.inherit(prev)
			}
		}
	}
	for _, w := range ch.set.workers {
		if ch.fresh[w.name] {
			// Stored now: if this output never receives anything before a
			// restart, it must still resume here, not at the head of then.
			if err := r.cursors.Store(w.name, w.next.Load()); err != nil {
				r.logger.Error("cannot store the starting cursor of an output; it is stored again within a second",
					"backend", w.name, "err", err)
				w.persisted.Store(0)
			}
		}
	}
	for _, name := range r.cursors.Names() {
		if _, ok := ch.set.byName[name]; !ok {
			r.logger.Info("forgetting the cursor of an output that is no longer configured", "output", name)
			_ = r.cursors.Delete(name)
		}
	}
	r.set.Store(ch.set)
	if old != nil {
		old.tracker.close()
		if err := closeWorkers(old.workers, allStores(ch.set.workers)); err != nil {
			r.logger.Warn("closing the replaced outputs", "err", err)
		}
		for _, w := range old.workers {
			if _, ok := ch.set.byName[w.name]; !ok {
				r.logger.Info("output removed by a reload", "backend", w.name)
				if w.lease != nil {
					w.lease.Release()
				}
			}
		}
		r.logSummary("reconfigured")
	}
	if r.started {
		ch.set.start()
	}
	return nil
}

// Abort releases what Prepare opened; the running workers go on.
func (ch *Change) Abort() {
	if ch.set == nil {
		return
	}
	_ = closeWorkers(ch.set.workers, allStores(ch.set.workers))
	for _, d := range ch.opened {
		_ = d.Close()
	}
}

// inherit takes over the running worker's position and counters, so that
// a reload neither resends what was delivered nor resets /metrics.
func (w *worker) inherit(prev *worker) {
	next := prev.next.Load()
	w.start = next
	w.next.Store(next)
	w.nextOffset.Store(prev.nextOffset.Load())
	w.reposition = true
	if w.cq != nil && prev.cq != nil {
		w.cq.queued.Store(prev.cq.queued.Load())
		prev.cq.mu.Lock()
		w.cq.last, w.cq.runs, w.cq.failed = prev.cq.last, prev.cq.runs, prev.cq.failed
		prev.cq.mu.Unlock()
	}
	w.oldest.Store(prev.oldest.Load())
	w.persisted.Store(prev.persisted.Load())
	w.state.Store(prev.state.Load())
	w.delivered.Store(prev.delivered.Load())
	w.requests.Store(prev.requests.Load())
	w.retries.Store(prev.retries.Load())
	w.cursorNote = prev.cursorNote
	prev.mu.Lock()
	w.lastErr, w.lastErrAt = prev.lastErr, prev.lastErrAt
	w.rejected, w.dropped = cloneCounts(prev.rejected), cloneCounts(prev.dropped)
	prev.mu.Unlock()
}

func cloneCounts(m map[string]uint64) map[string]uint64 {
	if m == nil {
		return nil
	}
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// forWorker returns the instruments of one backend, already labelled.
func (m *Metrics) forWorker(listener, backendName string) workerMetrics {
	if m == nil {
		return workerMetrics{}
	}
	l := prometheus.Labels{"listener": listener, "backend": backendName}
	for _, outcome := range []string{"done", "partial", "retry"} {
		m.backfillRuns.MustCurryWith(l).WithLabelValues(outcome) // at 0 from the start, for increase()
	}
	return workerMetrics{
		requestSeconds: m.requestSeconds.MustCurryWith(l),
		deadLettered:   m.deadLetteredVec.MustCurryWith(l),
		backfillRuns:   m.backfillRuns.MustCurryWith(l),
		backfillIvals:  m.backfillIvals.With(l),
	}
}

// allStores lists the dead-letter stores of ws.
func allStores(ws []*worker) map[DeadLetterStore]bool {
	m := make(map[DeadLetterStore]bool, len(ws))
	for _, w := range ws {
		m[w.dead] = true
	}
	return m
}
