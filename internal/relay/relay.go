// Package relay is influxgate's write path behind the HTTP handlers: it
// appends each accepted write once to a durable log, answers the client per
// the consistency policy, and runs one delivery worker per backend that
// reads the log from its own cursor, in order, merging queued records into
// batches, retrying transient failures with backoff and resolving
// rejections (docs/delivery.md has the rules).
//
// One Relay serves one [[http]] (or [[udp]]) section of the config: its own
// log directory, its own outputs.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/throttle"
	"github.com/influxgate/influxgate/internal/wal"
)

// Options configure a Relay.
type Options struct {
	Name         string // listener name, used in logs and metrics
	Dir          string // log directory (created)
	Outputs      []config.OutputConfig
	Sync         wal.SyncMode
	SyncInterval time.Duration
	// SegmentSize overrides the log's segment size; 0 picks 64 MiB, or
	// less when an output's buffer-size-mb is small, so that the overflow
	// policy and segment deletion work at a useful granularity.
	SegmentSize int64
	// WriteTimeout bounds how long a write waits for backend verdicts.
	WriteTimeout time.Duration
	// DeadLetterAfter is how long a record that one replica refuses and
	// another accepted is retried before it goes to the dead-letter store.
	DeadLetterAfter time.Duration
	// LiveLag: a backend whose oldest undelivered record is younger than
	// this counts as live (caught up). Default 1s.
	LiveLag time.Duration
	// CursorInterval is how often cursors are persisted (default 1s);
	// after a crash, at most this much is delivered twice.
	CursorInterval time.Duration
	Logger         *slog.Logger
	Metrics        *Metrics // optional
}

// Relay owns one log and the delivery workers of its outputs.
type Relay struct {
	opts    Options
	log     *wal.Log
	cursors *wal.Cursors
	// mu guards the set of workers: a reload (Reconfigure) replaces it
	// while no write is in flight.
	mu      sync.RWMutex
	tracker *tracker
	workers []*worker
	byName  map[string]*worker
	all     uint64
	metrics *Metrics
	logger  *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed chan struct{}
	// appendErr is the error of the last append, nil after a success.
	appendErr atomic.Pointer[error]
}

// New opens (or creates) the relay's log and cursors and prepares a worker
// per output. Call Start to begin delivering.
func New(opts Options) (*Relay, error) {
	if len(opts.Outputs) == 0 {
		return nil, errors.New("relay: no outputs")
	}
	if len(opts.Outputs) > 64 {
		return nil, errors.New("relay: at most 64 outputs per listener")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.DeadLetterAfter <= 0 {
		opts.DeadLetterAfter = 10 * time.Second
	}
	if opts.LiveLag <= 0 {
		opts.LiveLag = time.Second
	}
	if opts.CursorInterval <= 0 {
		opts.CursorInterval = time.Second
	}
	logger := opts.Logger.With("component", "relay", "listener", opts.Name)
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("relay %s: %w", opts.Name, err)
	}
	l, err := wal.Open(wal.Options{
		Dir:         filepath.Join(opts.Dir, "log"),
		SegmentSize: segmentSize(opts),
		// A caught-up backend reads a record milliseconds after its
		// append; 8 MiB covers tens of milliseconds at full speed and
		// keeps the process small. A backend further behind reads the
		// segment files (the page cache, usually).
		CacheBytes:   8 << 20,
		Sync:         opts.Sync,
		SyncInterval: opts.SyncInterval,
		Logger:       logger,
	})
	if err != nil {
		return nil, fmt.Errorf("relay %s: open log: %w", opts.Name, err)
	}
	cur, err := wal.OpenCursors(filepath.Join(opts.Dir, "cursors"))
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("relay %s: open cursors: %w", opts.Name, err)
	}
	r := &Relay{opts: opts, log: l, cursors: cur, metrics: opts.Metrics, logger: logger,
		closed: make(chan struct{})}
	if err := r.buildWorkers(opts.Outputs); err != nil {
		r.closeFiles()
		return nil, err
	}
	r.logSummary("opened")
	return r, nil
}

// buildWorkers makes a worker per output, each resuming from its saved
// cursor, and forgets the cursors of outputs no longer configured.
func (r *Relay) buildWorkers(outputs []config.OutputConfig) error {
	r.tracker = newTracker()
	r.workers, r.byName, r.all = nil, make(map[string]*worker), 0
	for i, o := range outputs {
		w, err := r.newWorker(i, o)
		if err != nil {
			return err
		}
		r.workers = append(r.workers, w)
		r.byName[o.Name] = w
		r.all |= w.bit
	}
	r.forgetRemovedOutputs()
	return nil
}

func segmentSize(opts Options) int64 {
	if opts.SegmentSize > 0 {
		return opts.SegmentSize
	}
	size := int64(64 << 20)
	for _, o := range opts.Outputs {
		if c := int64(o.BufferSizeMB) << 20 / 8; c > 0 && c < size {
			size = c
		}
	}
	if size < 1<<20 {
		size = 1 << 20
	}
	return size
}

func (r *Relay) newWorker(i int, o config.OutputConfig) (*worker, error) {
	client, err := backend.New(o)
	if err != nil {
		return nil, err
	}
	w := &worker{r: r, bit: 1 << i, name: o.Name, out: o, client: client,
		log:      r.logger.With("backend", o.Name),
		quiet:    throttle.New(r.logger.With("backend", o.Name), 10*time.Second),
		capBytes: int64(o.BufferSizeMB) << 20,
		maxBatch: o.MaxBatchKB << 10,
		missing:  make(map[string]time.Time),
		overCap:  make(chan struct{}, 1),
		dead:     &deadLetters{dir: filepath.Join(r.opts.Dir, "deadletter", o.Name)},
	}
	if w.maxBatch <= 0 {
		w.maxBatch = 50 << 10
	}
	if w.out.MaxDelayInterval <= 0 {
		w.out.MaxDelayInterval = 10 * time.Second
	}
	start, ok := r.cursors.Load(o.Name)
	if !ok {
		start = r.log.LastIndex() + 1
		if r.log.LastIndex() > 0 {
			w.log.Info("new output starts at the head of the log; older data can be copied with influxgate resync",
				"index", start)
		}
		// Persist it now: if this output never receives anything before a
		// restart, it must still resume here, not at the head of then.
		if err := r.cursors.Store(o.Name, start); err != nil {
			return nil, fmt.Errorf("output %q: %w", o.Name, err)
		}
	}
	if last := r.log.LastIndex(); start > last+1 {
		// The end of the log was lost on disk (the open-time repair cut
		// it) after this backend had received it. New writes get those
		// indexes again and this backend must receive them; the cursor is
		// stored at once so that a crash cannot bring the old one back.
		w.log.Error("cursor points past the end of the log: records this backend had received were lost from the log; continuing at its end",
			"cursor", start, "last_index", last)
		start = last + 1
		if err := r.cursors.Store(o.Name, start); err != nil {
			return nil, fmt.Errorf("output %q: %w", o.Name, err)
		}
	}
	if first := r.log.FirstIndex(); first > 0 && start < first {
		w.log.Error("cursor points before the oldest record in the log; records in between are missing",
			"cursor", start, "first", first)
		start = first
	}
	rd, err := r.log.NewReader(start)
	if err != nil {
		return nil, fmt.Errorf("output %q: %w", o.Name, err)
	}
	w.reader = rd
	w.next.Store(rd.Next())
	w.nextOffset.Store(rd.Offset())
	w.persisted.Store(rd.Next())
	if n, err := w.dead.open(); err != nil {
		return nil, fmt.Errorf("output %q: dead-letter store: %w", o.Name, err)
	} else {
		w.deadLetters.Store(n)
	}
	if rd.Next() <= r.log.LastIndex() {
		w.state.Store(int32(StateReplaying))
	}
	w.loadDiverged()
	return w, nil
}

// forgetRemovedOutputs deletes cursors of outputs no longer configured, so
// that they do not look like lagging backends.
func (r *Relay) forgetRemovedOutputs() {
	for _, name := range r.cursors.Names() {
		if _, ok := r.byName[name]; !ok {
			r.logger.Info("forgetting the cursor of an output that is no longer configured", "output", name)
			_ = r.cursors.Delete(name)
		}
	}
}

// Start begins delivery.
func (r *Relay) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.start()
}

// housekeep persists cursors and deletes log segments every cursor passed.
func (r *Relay) housekeep(ctx context.Context) {
	t := time.NewTicker(r.opts.CursorInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.persistCursors()
			for _, w := range r.workers {
				w.checkDivergedCleared()
			}
		}
	}
}

func (r *Relay) persistCursors() {
	low := uint64(0)
	for _, w := range r.workers {
		next := w.next.Load()
		if next != w.persisted.Load() {
			if err := r.cursors.Store(w.name, next); err != nil {
				r.logger.Error("cannot persist cursor", "backend", w.name, "err", err)
				next = w.persisted.Load()
			} else {
				w.persisted.Store(next)
			}
		}
		if low == 0 || next < low {
			low = next
		}
	}
	// Only what every persisted cursor has passed may go: after a crash
	// each backend resumes from its persisted cursor.
	if err := r.log.TruncateFront(low); err != nil {
		r.logger.Error("cannot delete delivered log segments", "err", err)
	}
}

// Write appends rec to the log and answers per the consistency level.
// rec.Received, DB, Lines, Precision and Body must be set.
func (r *Relay) Write(ctx context.Context, rec *record.Record, c Consistency) Answer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if err := r.full(); err != nil {
		r.metrics.rejectedFull(r.opts.Name)
		return ErrorAnswer(http.StatusServiceUnavailable, "%v", err)
	}
	payload := rec.AppendEncode(make([]byte, 0, rec.EncodedSize()))
	live := r.liveSet()
	start := time.Now()
	idx, err := r.log.Append(payload)
	r.metrics.observeAppend(r.opts.Name, len(payload), time.Since(start), err)
	if err != nil {
		if r.appendErr.Swap(&err) == nil {
			r.logger.Error("cannot append to the write log; answering 503 until it works again", "err", err)
		}
		return ErrorAnswer(http.StatusServiceUnavailable, "write log unavailable: %v", err)
	}
	if r.appendErr.Swap(nil) != nil {
		r.logger.Info("write log accepts appends again")
	}
	end := r.log.EndOffset()
	for _, w := range r.workers {
		w.noteAppend(end)
	}
	all := r.targets(rec)
	if c == Any && live&all == 0 {
		return answerNoContent
	}
	wt := r.tracker.register(idx)
	defer r.tracker.unregister(wt)
	timer := time.NewTimer(r.opts.WriteTimeout)
	defer timer.Stop()
	for {
		if a, ok := decide(r.tracker.snapshot(wt), all, live, c, false); ok {
			return a
		}
		select {
		case <-wt.wake:
		case <-timer.C:
			a, _ := decide(r.tracker.snapshot(wt), all, live, c, true)
			return a
		case <-ctx.Done():
			a, _ := decide(r.tracker.snapshot(wt), all, live, c, true)
			return a
		}
	}
}

// full reports a backlog at its cap under overflow = reject.
func (r *Relay) full() error {
	for _, w := range r.workers {
		if w.capBytes > 0 && w.out.Overflow == "reject" && r.log.EndOffset()-w.nextOffset.Load() >= w.capBytes {
			return fmt.Errorf("backlog of backend %q is full (buffer-size-mb = %d, overflow = reject); write not accepted, retry later",
				w.name, w.out.BufferSizeMB)
		}
	}
	return nil
}

// Ready returns why the relay cannot accept writes now, or nil.
func (r *Relay) Ready() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if p := r.appendErr.Load(); p != nil {
		return fmt.Errorf("write log: %w", *p)
	}
	return r.full()
}

// awaitVerdicts waits until every backend in mask has given a verdict on
// idx (accepted or refused), or timeout passes.
func (r *Relay) awaitVerdicts(ctx context.Context, idx, mask uint64, timeout time.Duration) outcome {
	wt := r.tracker.register(idx)
	defer r.tracker.unregister(wt)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		o := r.tracker.snapshot(wt)
		if mask&^(o.accepted|o.rejected|o.failed) == 0 {
			return o
		}
		select {
		case <-wt.wake:
		case <-timer.C:
			return r.tracker.snapshot(wt)
		case <-ctx.Done():
			return r.tracker.snapshot(wt)
		}
	}
}

// liveSet is the set of backends that are caught up now.
func (r *Relay) liveSet() uint64 {
	var s uint64
	for _, w := range r.workers {
		if w.State() == StateLive {
			s |= w.bit
		}
	}
	return s
}

// targets is the set of backends a record goes to.
func (r *Relay) targets(rec *record.Record) uint64 {
	if rec.Only != "" {
		if w := r.byName[rec.Only]; w != nil {
			return w.bit
		}
		return 0
	}
	return r.all
}

// Close stops accepting deliveries in two phases: it lets the workers
// deliver until they are caught up or ctx is done, then stops them,
// persists every cursor and closes the log.
func (r *Relay) Close(ctx context.Context) error {
	select {
	case <-r.closed:
		return nil
	default:
		close(r.closed)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil {
		tick := time.NewTicker(20 * time.Millisecond)
	drain:
		for !r.caughtUp() {
			select {
			case <-ctx.Done():
				break drain
			case <-tick.C:
			}
		}
		tick.Stop()
		r.cancel()
		r.wg.Wait()
		r.persistCursors()
	}
	r.logSummary("closed")
	return r.closeFiles()
}

func (r *Relay) caughtUp() bool {
	last := r.log.LastIndex()
	for _, w := range r.workers {
		if w.next.Load() <= last && w.State() != StateDown {
			return false
		}
	}
	return true
}

func (r *Relay) closeFiles() error {
	errs := []error{r.closeWorkers()}
	errs = append(errs, r.log.Close())
	return errors.Join(errs...)
}

// closeWorkers releases the workers' readers, dead-letter stores and
// connections (the workers must be stopped).
func (r *Relay) closeWorkers() error {
	var errs []error
	for _, w := range r.workers {
		if w.reader != nil {
			errs = append(errs, w.reader.Close())
		}
		errs = append(errs, w.dead.close())
		w.client.Close()
	}
	return errors.Join(errs...)
}

// logSummary writes one line for the log and one per backend's backlog.
func (r *Relay) logSummary(when string) {
	st := r.log.Stats()
	r.logger.Info("write log "+when, "dir", r.opts.Dir, "first_index", r.log.FirstIndex(),
		"last_index", r.log.LastIndex(), "segments", st.Segments, "bytes", st.DiskBytes)
	for _, w := range r.workers {
		b := r.backlog(w)
		r.logger.Info("backend backlog", "backend", w.name, "records", b.Records, "bytes", b.Bytes,
			"dead_letters", w.deadLetters.Load())
	}
}
