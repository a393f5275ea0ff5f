package relay

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/throttle"
	"github.com/influxgate/influxgate/internal/wal"
)

// State is a backend's delivery state.
type State int32

const (
	// StateLive: caught up; receives new writes from memory as they come.
	StateLive State = iota
	// StateReplaying: delivering a backlog from the log.
	StateReplaying
	// StateDown: the last attempt failed; retrying with backoff.
	StateDown
)

func (s State) String() string {
	return [...]string{"live", "replaying", "down"}[s]
}

// pending is a record read from the log and not yet resolved for this
// backend (delivered, rejected, dropped or dead-lettered).
type pending struct {
	idx  uint64
	off  int64
	rec  record.Record
	size int
}

// worker delivers the log to one backend, in order, one request at a time:
// strict order is what keeps replicas identical when the same point is
// written twice; throughput comes from merging queued records into large
// requests rather than from parallel requests.
//
// A worker knows its collaborators only through workerDeps (the backend
// as a Sender, the log as a tail and a reader, the verdict tracker, its
// peers and its metrics), so that it can be tested alone with fakes.
type worker struct {
	workerConfig
	workerDeps
	log   *slog.Logger
	quiet *throttle.Log // repeated refusals: one line per reason every 10 s
	start uint64        // where delivery begins (the stored cursor)
	// cursorNote says why start is not the stored cursor (a damaged
	// cursor file), for /health; "" normally.
	cursorNote string

	reader LogReader
	// reposition: the reader must move to next before reading (the
	// worker took over a running worker's position at a reload).
	reposition bool
	next       atomic.Uint64 // oldest unresolved record (the cursor)
	nextOffset atomic.Int64  // its log offset
	oldest     atomic.Int64  // its receipt time (ns), 0 when nothing is pending
	state      atomic.Int32
	diverged   atomic.Int64 // ns since when records were skipped by the overflow policy
	persisted  atomic.Uint64

	delivered   atomic.Uint64 // points
	requests    atomic.Uint64
	retries     atomic.Uint64
	deadLetters atomic.Uint64 // records moved to the dead-letter store

	mu        sync.Mutex
	lastErr   string
	lastErrAt time.Time
	rejected  map[string]uint64 // points by reason
	dropped   map[string]uint64 // points by reason

	// missing holds db/rp destinations this backend lacks (dead-lettering
	// since the time given); only the worker goroutine touches it.
	missing map[string]time.Time
	// pingFailed: the last idle ping failed and nothing was delivered
	// since, so the backend stays down while idle (worker goroutine only).
	pingFailed bool
	overCap    chan struct{} // buffered(1): the backlog went over its cap
	// cq is the continuous-query backfill; nil when it is off.
	cq *cqBackfill

	// With a shared log (lease != nil): standby is true while another node
	// delivers to the backend, heard is when its deliverer last reported
	// (ns), deliverer names that node (under mu).
	standby   atomic.Bool
	heard     atomic.Int64
	deliverer string
}

func newWorker(cfg workerConfig, deps workerDeps, start uint64) *worker {
	logger := deps.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &worker{workerConfig: cfg, workerDeps: deps, start: start,
		log:     logger,
		quiet:   throttle.New(logger, 10*time.Second),
		missing: make(map[string]time.Time),
		overCap: make(chan struct{}, 1),
	}
	w.next.Store(start)
	w.persisted.Store(start)
	if start <= deps.source.LastIndex() {
		w.state.Store(int32(StateReplaying))
	}
	if deps.lease != nil && !deps.lease.Held() {
		w.standby.Store(true)
		w.heard.Store(time.Now().UnixNano())
	}
	return w
}

func (w *worker) State() State { return State(w.state.Load()) }

// run delivers until ctx is done. A panic is logged with its stack and the
// loop starts again from the cursor: one bad record must not silently stop
// a backend forever.
func (w *worker) run(ctx context.Context) {
	for ctx.Err() == nil {
		dctx, ok := w.hold(ctx)
		if !ok {
			return
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					w.log.Error("delivery worker panicked; restarting from the cursor",
						"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					if w.reader != nil {
						_ = w.reader.Seek(w.next.Load())
					}
					sleep(dctx, time.Second)
				}
			}()
			if w.openReader(dctx) {
				w.loop(dctx)
			}
		}()
		w.letGo(ctx)
	}
}

// openReader positions a reader at the cursor, retrying while the log
// cannot give one; false when ctx ended first.
func (w *worker) openReader(ctx context.Context) bool {
	if w.reposition && w.reader != nil {
		if err := w.reader.Seek(w.next.Load()); err != nil {
			w.reader.Close()
			w.reader = nil
		}
	}
	w.reposition = false
	for w.reader == nil {
		rd, err := w.source.NewReader(w.next.Load())
		if err == nil {
			w.reader = rd
			w.nextOffset.Store(rd.Offset())
			break
		}
		w.fail(fmt.Sprintf("reading the log: %v", err))
		if !sleep(ctx, time.Second) {
			return false
		}
	}
	return true
}

func (w *worker) loop(ctx context.Context) {
	var queue []pending
	attempt := 0
	for ctx.Err() == nil {
		if w.dropOldest && w.capBytes > 0 {
			queue = w.enforceCap(queue)
		}
		if len(queue) == 0 {
			var err error
			if queue, err = w.fill(queue[:0]); err != nil {
				w.fail(fmt.Sprintf("reading the log: %v", err))
				sleep(ctx, time.Second)
				continue
			}
			w.advance(queue)
			if len(queue) == 0 {
				if !w.idle(ctx) {
					return
				}
				continue
			}
		}
		n := batchLen(queue, w.maxBatch)
		lag := time.Since(time.Unix(0, queue[0].rec.Received))
		resolved, fail := w.send(ctx, queue[:n])
		if resolved > 0 {
			w.noteLate(queue[:resolved])
			queue = queue[resolved:]
			w.advance(queue)
			attempt = 0
			w.pingFailed = false
			if lag > w.liveLag {
				w.setState(StateReplaying, "")
			} else {
				w.setState(StateLive, "")
			}
		}
		if fail == nil || ctx.Err() != nil {
			continue
		}
		w.setState(StateDown, logText(fail.Message()))
		w.retries.Add(1)
		w.backoffSleep(ctx, backoff(attempt, w.maxDelay, fail.RetryAfter))
		attempt++
	}
}

// idle waits for the next record and reports false when ctx is done.
// While it waits it probes the backend every max-delay-interval: without
// that, a backend that goes away while nothing is written would show as
// live (on /health, and to the query router) until the next write found
// out. A failed probe marks it down; a good one marks it live again. A
// record that arrives during a probe cuts the probe short: delivery is
// the better probe.
func (w *worker) idle(ctx context.Context) bool {
	if !w.pingFailed {
		w.setState(StateLive, "")
	}
	w.queueBackfill()
	notify := w.source.Notify(w.reader.Next() - 1)
	t := time.NewTimer(w.maxDelay)
	defer t.Stop()
	for {
		select {
		case <-notify:
			return true
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		pctx, cancel := context.WithCancel(ctx)
		stop := make(chan struct{})
		go func() {
			select {
			case <-notify:
				cancel()
			case <-stop:
			}
		}()
		err := w.sender.Probe(pctx)
		cut := pctx.Err() != nil
		close(stop)
		cancel()
		switch {
		case cut:
			// Cut short by a record or by shutdown: no verdict.
		case err != nil:
			w.pingFailed = true
			w.setState(StateDown, logText("ping: "+err.Error()))
		default:
			w.pingFailed = false
			w.setState(StateLive, "")
		}
		t.Reset(w.maxDelay)
	}
}

// fill reads the next records, skipping those meant for another output.
func (w *worker) fill(q []pending) ([]pending, error) {
	entries, err := w.reader.Read(w.maxBatch)
	if err != nil {
		return q, err
	}
	w.noteGaps()
	for _, e := range entries {
		rec, ok := w.decode(e)
		if ok {
			q = append(q, pending{idx: e.Index, off: e.Offset, rec: rec, size: len(rec.Body)})
		}
	}
	return q, nil
}

// decode decodes a log entry and reports whether it is for this backend;
// an undecodable record is counted and logged.
func (w *worker) decode(e wal.Entry) (record.Record, bool) {
	rec, err := record.Decode(e.Data)
	if err != nil {
		w.count(&w.dropped, "corrupt", 1)
		w.log.Error("skipping undecodable log record", "index", e.Index, "err", err)
		return rec, false
	}
	return rec, rec.Only == "" || rec.Only == w.name
}

// noteGaps counts and logs records the log could not give back (damaged on
// disk, or in a segment that is gone). Their points are unknown, so the
// "corrupt" and "missing" drop reasons count records, not points.
func (w *worker) noteGaps() {
	for _, g := range w.reader.Gaps() {
		if g.Reason == wal.GapTruncated {
			continue // delivered already: truncation follows the cursors
		}
		n := g.To - g.From + 1
		w.count(&w.dropped, g.Reason.String(), n)
		w.log.Error("log records could not be read and were skipped; this backend misses them",
			"from", g.From, "to", g.To, "records", n, "reason", g.Reason.String())
	}
}

// advance moves the cursor to the first record still queued.
func (w *worker) advance(q []pending) {
	if len(q) > 0 {
		w.next.Store(q[0].idx)
		w.nextOffset.Store(q[0].off)
		w.oldest.Store(q[0].rec.Received)
		return
	}
	w.next.Store(w.reader.Next())
	w.nextOffset.Store(w.reader.Offset())
	w.oldest.Store(0)
}

// batchLen returns how many queued records go into the next request:
// consecutive writes with the same destination and credentials, up to
// maxBatch bytes (at least one record, however large). A record whose last
// line would run on into the next body (FlagOpenEnd) ends the batch, so
// that joining bodies never changes what a backend parses.
func batchLen(q []pending, maxBatch int) int {
	size := q[0].size
	n := 1
	for n < len(q) && q[n-1].rec.Flags&record.FlagOpenEnd == 0 &&
		record.SameBatch(&q[0].rec, &q[n].rec) && size+q[n].size <= maxBatch {
		size += q[n].size
		n++
	}
	return n
}

// setState records a state change and logs it once, not per request.
func (w *worker) setState(s State, errText string) {
	if errText != "" {
		w.fail(errText)
	}
	old := State(w.state.Swap(int32(s)))
	if old == s {
		return
	}
	switch s {
	case StateDown:
		w.log.Warn("backend down; writes queue in the log", "error", errText)
		w.noteDown()
	case StateReplaying:
		w.log.Info("backend replaying its backlog", "backlog_records", w.source.LastIndex()+1-w.next.Load())
	case StateLive:
		w.log.Info("backend caught up")
	}
}

func (w *worker) fail(msg string) {
	w.mu.Lock()
	w.lastErr, w.lastErrAt = msg, time.Now()
	w.mu.Unlock()
}

func (w *worker) count(m *map[string]uint64, reason string, n uint64) {
	w.mu.Lock()
	if *m == nil {
		*m = make(map[string]uint64)
	}
	(*m)[reason] += n
	w.mu.Unlock()
}

// logText shortens a backend's error for the log: InfluxDB echoes the
// offending line, and a log must not carry whole request bodies.
func logText(s string) string {
	const max = 300
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
