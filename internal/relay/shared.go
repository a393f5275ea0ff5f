package relay

import (
	"context"
	"log/slog"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
)

// Shared is what a log that several influxgate nodes share adds to Log
// (package jetlog implements both). A relay whose log implements it
// delivers to a backend only while this node holds the backend's lease,
// tells the other nodes what the backend said about each record and where
// its delivery stands, and learns the same from them. Everything else —
// batching, retries, refusals, caps, backfill — is the worker's as with a
// local log.
type Shared interface {
	// Node names this node among those sharing the log.
	Node() string
	// Lease returns the claim to deliver to backend (one per name, the
	// same object on every call).
	Lease(backend string) Lease
	// PublishVerdict tells the other nodes what backend said about the
	// record at idx (the appending node answers its client from it).
	PublishVerdict(backend string, idx uint64, res *backend.Result)
	// PublishState tells the other nodes where delivery to a backend this
	// node holds stands.
	PublishState(backend string, st RemoteState)
	// Subscribe hands the other nodes' verdicts and states to h until
	// stop is called.
	Subscribe(h SharedHandler) (stop func(), err error)
	// OffsetOf is the log offset of index idx (see Log.EndOffset).
	OffsetOf(idx uint64) int64
}

// Lease is one node's claim to deliver to one backend; at most one node
// holds it at a time.
type Lease interface {
	// Acquire waits until this node holds the lease (at once if it does)
	// and returns a context that ends when the lease is lost; an error
	// only when ctx ended first.
	Acquire(ctx context.Context) (context.Context, error)
	// Held reports whether this node holds the lease now.
	Held() bool
	// Release gives the lease up, so that another node takes over at
	// once rather than after the lease's time to live.
	Release()
}

// SharedHandler receives what the other nodes publish.
type SharedHandler interface {
	RemoteVerdict(backend string, idx uint64, res *backend.Result)
	RemoteState(backend string, st RemoteState)
}

// RemoteState is where delivery to a backend stands, as its deliverer
// publishes it.
type RemoteState struct {
	Node          string    `json:"node"`
	State         State     `json:"state"`
	Next          uint64    `json:"next"`             // the deliverer's cursor
	Oldest        int64     `json:"oldest,omitempty"` // receipt time (ns) of the record at the cursor
	LastError     string    `json:"last_error,omitempty"`
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
	DivergedSince int64     `json:"diverged,omitempty"` // ns
	DeadLetters   uint64    `json:"dead_letters,omitempty"`
}

// standbyTimeout: a standby backend whose deliverer has not reported for
// this long is shown down (a dead deliverer's lease expires and another node
// takes over well within it).
const standbyTimeout = 15 * time.Second

// statePeriod is how often a deliverer publishes its state; a standby
// node's /health and query routing are at most this much behind.
const statePeriod = 250 * time.Millisecond

// sharedVerdicts reports a worker's verdicts to its own tracker and to the
// other nodes.
type sharedVerdicts struct {
	*tracker
	shared Shared
	name   string
}

func (v sharedVerdicts) report(idx, bit uint64, res *backend.Result) {
	v.tracker.report(idx, bit, res)
	v.shared.PublishVerdict(v.name, idx, res)
}

// RemoteVerdict feeds another node's verdict to the current set's tracker.
func (r *Relay) RemoteVerdict(name string, idx uint64, res *backend.Result) {
	set := r.set.Load()
	if w := set.byName[name]; w != nil && w.standby.Load() {
		set.tracker.report(idx, w.bit, res)
	}
}

// RemoteState applies another node's view of a backend it delivers to.
func (r *Relay) RemoteState(name string, st RemoteState) {
	if w := r.set.Load().byName[name]; w != nil && w.standby.Load() {
		w.applyRemote(st, r.shared.OffsetOf(st.Next))
	}
}

// applyRemote mirrors the deliverer's state on a standby worker, so that
// /health, the live set (consistency levels) and query routing are the
// same on every node.
func (w *worker) applyRemote(st RemoteState, off int64) {
	w.heard.Store(time.Now().UnixNano())
	w.next.Store(st.Next)
	w.nextOffset.Store(off)
	w.oldest.Store(st.Oldest)
	w.state.Store(int32(st.State))
	w.diverged.Store(st.DivergedSince)
	w.deadLetters.Store(st.DeadLetters)
	w.mu.Lock()
	w.deliverer = st.Node
	if st.LastError != "" {
		w.lastErr, w.lastErrAt = st.LastError, st.LastErrorAt
	}
	w.mu.Unlock()
}

// remoteState is what a deliverer publishes.
func (w *worker) remoteState(node string) RemoteState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return RemoteState{Node: node, State: w.State(), Next: w.next.Load(), Oldest: w.oldest.Load(),
		LastError: w.lastErr, LastErrorAt: w.lastErrAt, DivergedSince: w.diverged.Load(),
		DeadLetters: w.deadLetters.Load()}
}

// hold waits, with a shared log, until this node holds the worker's lease,
// then resumes from the cursor stored in the log (the previous deliverer,
// on this node or another, stored it); it returns the context delivery
// runs under, which ends when the lease is lost. Without a lease it
// returns ctx.
func (w *worker) hold(ctx context.Context) (context.Context, bool) {
	if w.lease == nil {
		return ctx, ctx.Err() == nil
	}
	if !w.lease.Held() {
		w.standby.Store(true)
	}
	lctx, err := w.lease.Acquire(ctx)
	if err != nil {
		return nil, false
	}
	start := w.resume()
	w.next.Store(start)
	w.persisted.Store(start)
	w.oldest.Store(0)
	if w.reader != nil {
		if err := w.reader.Seek(start); err != nil {
			w.reader.Close()
			w.reader = nil
		} else {
			w.nextOffset.Store(w.reader.Offset())
		}
	}
	w.reposition = false
	// The previous deliverer kept the backend's state beside the cursor
	// it stored: carry its divergence mark, pending backfill and count of
	// dead letters on.
	w.loadDiverged()
	if w.cq != nil {
		w.loadPending()
	}
	if n, err := w.dead.Open(); err == nil {
		w.deadLetters.Store(n)
	}
	w.mu.Lock()
	w.deliverer = w.node
	w.mu.Unlock()
	if w.standby.Swap(false) {
		w.log.Info("this node now delivers to the backend", "from_index", start)
	}
	return lctx, true
}

// letGo notes, after delivery stopped, that the lease was lost (another
// node may deliver now) unless the relay is stopping.
func (w *worker) letGo(ctx context.Context) {
	if w.lease == nil || ctx.Err() != nil {
		return
	}
	w.standby.Store(true)
	w.log.Warn("lost the lease of the backend: another node delivers to it now; standing by")
}

// elsewhere reports, with a shared log, that another node delivers to the
// backend now (or may: this node does not hold the lease), so that this
// one must neither store its cursor and state nor count for it.
func (w *worker) elsewhere() bool {
	return w.standby.Load() || (w.lease != nil && !w.lease.Held())
}

// checkStandby marks a standby backend down when no deliverer has been
// heard from for a while: no node delivers to it (all cut off from NATS,
// say), and /health and routing must not go on showing it live.
func (w *worker) checkStandby(now time.Time, within time.Duration) {
	if !w.standby.Load() || w.State() == StateDown {
		return
	}
	if heard := w.heard.Load(); heard != 0 && now.Sub(time.Unix(0, heard)) > within {
		w.state.Store(int32(StateDown))
		w.fail("no node has reported delivering to this backend for " + within.String())
	}
}

// shareLoop publishes, with a shared log, the state of every backend this
// node delivers to, and watches the others' reports.
func (r *Relay) shareLoop(ctx context.Context) {
	t := time.NewTicker(statePeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		for _, w := range r.set.Load().workers {
			if w.standby.Load() {
				w.checkStandby(now, standbyTimeout)
				continue
			}
			if w.lease != nil && w.lease.Held() {
				r.shared.PublishState(w.name, w.remoteState(r.shared.Node()))
			}
		}
	}
}

// resumeAt is where a node that has just taken a backend's lease resumes:
// the cursor its previous deliverer stored. A cursor that cannot be read
// replays from the oldest record the log holds: records the backend had
// arrive twice, which is harmless; skipping any would not be.
func (r *Relay) resumeAt(name string, logger *slog.Logger) uint64 {
	first, last := r.log.FirstIndex(), r.log.LastIndex()
	start, ok := r.cursors.Load(name)
	switch {
	case !ok:
		start = max(first, 1)
		logger.Warn("no stored cursor for the backend: replaying from the oldest record in the log", "from_index", start, "last_index", last)
	case first > 0 && start < first:
		logger.Warn("the stored cursor points before the oldest record in the log; records in between are missing",
			"cursor", start, "first", first)
		start = first
	}
	return start
}
