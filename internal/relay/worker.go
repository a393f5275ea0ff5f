package relay

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/lineproto"
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
type worker struct {
	r        *Relay
	bit      uint64
	name     string
	out      config.OutputConfig
	client   *backend.Client
	reader   *wal.Reader
	log      *slog.Logger
	quiet    *throttle.Log // repeated refusals: one line per reason every 10 s
	capBytes int64
	maxBatch int

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
	dead       *deadLetters
	overCap    chan struct{} // buffered(1): the backlog went over its cap
}

func (w *worker) State() State { return State(w.state.Load()) }

// run delivers until ctx is done. A panic is logged with its stack and the
// loop starts again from the cursor: one bad record must not silently stop
// a backend forever.
func (w *worker) run(ctx context.Context) {
	for ctx.Err() == nil {
		func() {
			defer func() {
				if p := recover(); p != nil {
					w.log.Error("delivery worker panicked; restarting from the cursor",
						"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					_ = w.reader.Seek(w.next.Load())
					sleep(ctx, time.Second)
				}
			}()
			w.loop(ctx)
		}()
	}
}

func (w *worker) loop(ctx context.Context) {
	var queue []pending
	attempt := 0
	for ctx.Err() == nil {
		if w.capBytes > 0 && w.out.Overflow != "reject" {
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
			queue = queue[resolved:]
			w.advance(queue)
			attempt = 0
			w.pingFailed = false
			if lag > w.r.opts.LiveLag {
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
		w.backoffSleep(ctx, backoff(attempt, w.out.MaxDelayInterval, fail.RetryAfter))
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
	notify := w.r.log.Notify(w.reader.Next() - 1)
	t := time.NewTimer(w.out.MaxDelayInterval)
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
		err := w.client.Probe(pctx)
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
		t.Reset(w.out.MaxDelayInterval)
	}
}

// backoffSleep waits d, or less when the backlog outgrows its cap
// (drop-oldest must act while the backend is down, not only between
// retries, or the backlog could overshoot the cap by the ingest rate times
// max-delay-interval).
func (w *worker) backoffSleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-w.overCap:
	}
}

// noteAppend is called after every append: it wakes a worker in backoff
// whose backlog went over its drop-oldest cap.
func (w *worker) noteAppend(end int64) {
	if w.capBytes > 0 && w.out.Overflow != "reject" && end-w.nextOffset.Load() > w.capBytes {
		select {
		case w.overCap <- struct{}{}:
		default:
		}
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
		rec, err := record.Decode(e.Data)
		if err != nil {
			w.count(&w.dropped, "corrupt", 1)
			w.log.Error("skipping undecodable log record", "index", e.Index, "err", err)
			continue
		}
		if rec.Only != "" && rec.Only != w.name {
			continue
		}
		q = append(q, pending{idx: e.Index, off: e.Offset, rec: rec, size: len(rec.Body)})
	}
	return q, nil
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

// send delivers recs as one request and resolves what it can. It returns
// how many records from the front were resolved, and the transient failure
// that stopped it, if any.
func (w *worker) send(ctx context.Context, recs []pending) (int, *backend.Result) {
	first := &recs[0].rec
	res := w.attempt(ctx, recs)
	switch res.Class {
	case backend.Accepted:
		w.accepted(recs, &res)
		return len(recs), nil
	case backend.Transient:
		if ctx.Err() == nil {
			for i := range recs {
				w.r.tracker.report(recs[i].idx, w.bit, &res)
			}
		}
		return 0, &res
	case backend.TooLarge:
		if first.Kind == record.KindQuery {
			break // a query cannot be split; refused below
		}
		if len(recs) > 1 {
			return w.sendEach(ctx, [][]pending{recs[:len(recs)/2], recs[len(recs)/2:]})
		}
		return w.sendSplit(ctx, recs[0], &res)
	}
	// Rejected or Mismatch: find the record(s) it was about.
	if len(recs) > 1 {
		parts := make([][]pending, len(recs))
		for i := range recs {
			parts[i] = recs[i : i+1]
		}
		return w.sendEach(ctx, parts)
	}
	w.r.tracker.report(recs[0].idx, w.bit, &res)
	if res.Class == backend.Rejected {
		w.reject(&recs[0], &res)
		return 1, nil
	}
	return w.mismatch(ctx, &recs[0], &res)
}

// attempt sends recs as one request (a write batch, or one schema change)
// and returns the classified answer.
func (w *worker) attempt(ctx context.Context, recs []pending) backend.Result {
	first := &recs[0].rec
	start := time.Now()
	var res backend.Result
	if first.Kind == record.KindQuery {
		res = w.client.Exec(ctx, first)
	} else {
		b := backend.Batch{DB: first.DB, RP: first.RP, Org: first.Org,
			Precision: lineproto.Precision(first.Precision), Auth: first.Auth,
			Bodies: make([][]byte, len(recs))}
		for i := range recs {
			b.Bodies[i] = recs[i].rec.Body
		}
		res = w.client.Write(ctx, &b)
	}
	w.requests.Add(1)
	w.r.metrics.observeRequest(w.r.opts.Name, w.name, res.Reason, time.Since(start))
	return res
}

func (w *worker) accepted(recs []pending, res *backend.Result) {
	for i := range recs {
		w.r.tracker.report(recs[i].idx, w.bit, res)
		w.delivered.Add(uint64(recs[i].rec.Lines))
	}
}

// sendEach sends the parts one after the other.
func (w *worker) sendEach(ctx context.Context, parts [][]pending) (int, *backend.Result) {
	done := 0
	for _, p := range parts {
		n, fail := w.send(ctx, p)
		done += n
		if fail != nil {
			return done, fail
		}
	}
	return done, nil
}

// sendSplit halves one record's body at a line boundary after a 413.
func (w *worker) sendSplit(ctx context.Context, p pending, res *backend.Result) (int, *backend.Result) {
	cut := midLine(p.rec.Body)
	if cut <= 0 {
		w.r.tracker.report(p.idx, w.bit, res)
		w.reject(&p, res)
		return 1, nil
	}
	a, b := p, p
	a.rec.Body, b.rec.Body = p.rec.Body[:cut], p.rec.Body[cut:]
	a.rec.Lines, b.rec.Lines = uint32(lineproto.Count(a.rec.Body).Lines), uint32(lineproto.Count(b.rec.Body).Lines)
	a.size, b.size = len(a.rec.Body), len(b.rec.Body)
	n, fail := w.sendEach(ctx, [][]pending{{a}, {b}})
	if n == 2 {
		return 1, nil
	}
	return 0, fail
}

// midLine returns the offset of the line start nearest the middle of body
// (0 when body is a single line).
func midLine(body []byte) int {
	best := 0
	lineproto.Lines(body, func(line []byte) bool {
		start := cap(body) - cap(line)
		if start > 0 && (best == 0 || abs(start-len(body)/2) < abs(best-len(body)/2)) {
			best = start
		}
		return true
	})
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
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

// reject counts and logs a record this backend refused as bad data.
func (w *worker) reject(p *pending, res *backend.Result) {
	w.count(&w.rejected, res.Reason, uint64(p.rec.Lines))
	w.quiet.Warn(res.Reason, "backend rejected a write as bad data; not retried",
		"db", p.rec.DB, "status", res.Status, "error", logText(res.Message()), "reason", res.Reason)
}

// mismatch resolves a refusal that depends on this backend's own state
// (docs/delivery.md, "Refusals only some replicas give"):
//   - if every other replica refused the record too, the refusal is
//     unanimous: the client was told, the record is dropped;
//   - if another replica accepted it, the replicas disagree: retry for
//     dead-letter-after (a schema being created right now), then move the
//     record to this backend's dead-letter store;
//   - if no other replica has said anything yet (down or behind), move it
//     to the dead-letter store at once rather than stall every write behind it.
func (w *worker) mismatch(ctx context.Context, p *pending, res *backend.Result) (int, *backend.Result) {
	key := p.rec.DB + "/" + p.rec.RP + "/" + res.Reason
	if _, ok := w.missing[key]; ok {
		return w.deadLetter(p, res)
	}
	others := w.r.targets(&p.rec) &^ w.bit
	o := w.r.awaitVerdicts(ctx, p.idx, others&w.r.liveSet(), 2*time.Second)
	if others&^o.rejected == 0 {
		w.reject(p, res)
		return 1, nil
	}
	if o.accepted&others == 0 {
		return w.deadLetter(p, res)
	}
	deadline := time.Now().Add(w.r.opts.DeadLetterAfter)
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		if !sleep(ctx, backoff(attempt, w.out.MaxDelayInterval, res.RetryAfter)) {
			return 0, res
		}
		w.retries.Add(1)
		again := w.attempt(ctx, []pending{*p})
		switch again.Class {
		case backend.Accepted:
			w.accepted([]pending{*p}, &again)
			return 1, nil
		case backend.Rejected:
			w.reject(p, &again)
			return 1, nil
		case backend.TooLarge:
			return w.sendSplit(ctx, *p, &again)
		}
		if ctx.Err() != nil {
			return 0, &again
		}
		// Still refused, or failing: keep trying until the deadline.
	}
	return w.deadLetter(p, res)
}

func (w *worker) deadLetter(p *pending, res *backend.Result) (int, *backend.Result) {
	if err := w.dead.add(&p.rec); err != nil {
		// Keep the record at the cursor: nothing is lost, the backend
		// waits until the store is writable again.
		w.log.Error("cannot write the dead-letter store", "err", err)
		fail := backend.Result{Class: backend.Transient, Reason: "dead_letter_store", Err: err}
		return 0, &fail
	}
	key := p.rec.DB + "/" + p.rec.RP + "/" + res.Reason
	if _, ok := w.missing[key]; !ok {
		w.missing[key] = time.Now()
		w.log.Warn("backend refuses writes that other replicas may accept; moving them to its dead-letter store",
			"db", p.rec.DB, "rp", p.rec.RP, "status", res.Status, "error", logText(res.Message()),
			"hint", "fix the backend's schema or users, then run: influxgate dead-letter replay")
	}
	w.deadLetters.Add(1)
	w.r.metrics.deadLettered(w.r.opts.Name, w.name, res.Reason)
	return 1, nil
}

// enforceCap applies the drop-oldest overflow policy: when the backlog
// exceeds buffer-size-mb, the oldest records are skipped down to 90% of
// the cap, every skipped point is counted, and the backend is marked
// diverged.
func (w *worker) enforceCap(q []pending) []pending {
	end := w.r.log.EndOffset()
	if end-w.nextOffset.Load() <= w.capBytes {
		return q
	}
	target := end - w.capBytes*9/10
	var records, points uint64
	for len(q) > 0 && q[0].off < target {
		records++
		points += uint64(q[0].rec.Lines)
		q = q[1:]
	}
	for len(q) == 0 && w.reader.Offset() < target {
		entries, err := w.reader.Read(w.maxBatch)
		if err != nil || len(entries) == 0 {
			break
		}
		for _, e := range entries {
			rec, err := record.Decode(e.Data)
			if err != nil || (rec.Only != "" && rec.Only != w.name) {
				continue
			}
			if e.Offset < target {
				records++
				points += uint64(rec.Lines)
				continue
			}
			q = append(q, pending{idx: e.Index, off: e.Offset, rec: rec, size: len(rec.Body)})
		}
	}
	w.advance(q)
	if records > 0 {
		w.count(&w.dropped, "overflow", points)
		w.markDiverged(time.Now())
		w.log.Warn("backlog over buffer-size-mb: skipped the oldest records; this replica now misses them",
			"records", records, "points", points, "cap_mb", w.out.BufferSizeMB,
			"diverged_since", time.Unix(0, w.diverged.Load()).UTC().Format(time.RFC3339))
	}
	return q
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
	case StateReplaying:
		w.log.Info("backend replaying its backlog", "backlog_records", w.r.log.LastIndex()+1-w.next.Load())
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
