// Package relay is influxgate's write path behind the HTTP handlers: it
// appends each accepted write once to a durable log, answers the client per
// the consistency policy, and runs one delivery worker per backend that
// reads the log from its own cursor, in order, merging queued records into
// batches, retrying transient failures with backoff and resolving
// rejections (docs/delivery.md has the rules).
//
// One Relay is one replica set: one log and the backends that all receive
// it. It serves one [[http]] (or [[udp]]) section of the config, or one
// shard of a sharded listener.
//
// The relay is built from seams so that its parts can be replaced and
// tested alone: the log (Log, LogReader, CursorStore; the local segmented
// log of package wal by default), the backends (Sender, *backend.Client by
// default), and the worker set, an immutable snapshot swapped by a reload.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/wal"
)

// Options configure a Relay.
type Options struct {
	Name         string // listener (or shard) name, used in logs and metrics
	Dir          string // the relay's directory (created): log, cursors, dead letters
	Outputs      []config.OutputConfig
	Sync         wal.SyncMode
	SyncInterval time.Duration
	// SegmentSize overrides the log's segment size; 0 picks 64 MiB, or
	// less when an output's buffer-size-mb is small, so that the overflow
	// policy and segment deletion work at a useful granularity.
	SegmentSize int64
	// CacheBytes is the local log's tail cache (records kept in memory
	// for the readers); 0 picks 8 MiB. The shards of a listener share
	// that much between them.
	CacheBytes int64
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
	// CQBackfill turns on the recomputation of continuous queries on a
	// backend that received points late (package backfill).
	CQBackfill bool
	// OpenLog opens the log and the cursors; nil means the local log
	// under Dir.
	OpenLog OpenLogFunc
	// NewSender builds a backend's sender; nil means backend.New.
	NewSender func(config.OutputConfig) (Sender, error)
	Logger    *slog.Logger
	Metrics   *Metrics // optional
}

// Relay owns one log and the delivery workers of its outputs.
type Relay struct {
	opts         Options
	log          Log
	cursors      CursorStore
	state        StateStore // beside the cursors, or files under Dir
	metrics      *Metrics
	logger       *slog.Logger
	writeTimeout atomic.Int64 // ns; a reload may change it

	// set is the current workers; replaced whole by a reload.
	set atomic.Pointer[workerSet]

	// mu serialises what changes the set or the relay's life (Start,
	// Reconfigure, Close, cursor persistence, dead-letter commands).
	// Writes, /health and routing never take it.
	mu        sync.Mutex
	started   bool
	stopHouse context.CancelFunc
	houseDone chan struct{}
	closed    atomic.Bool
	// appendErr is the error of the last append, nil after a success.
	appendErr atomic.Pointer[error]

	// shared is the log as shared by several nodes (nil for a local log);
	// stopShare ends the subscription to the other nodes' reports.
	shared    Shared
	stopShare func()
}

// New opens (or creates) the relay's log and cursors and prepares a worker
// per output. Call Start to begin delivering.
func New(opts Options) (*Relay, error) {
	if err := checkOutputs(opts.Name, opts.Outputs); err != nil {
		return nil, err
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
	if opts.OpenLog == nil {
		opts.OpenLog = openLocal
	}
	if opts.NewSender == nil {
		opts.NewSender = func(o config.OutputConfig) (Sender, error) { return backend.New(o) }
	}
	logger := opts.Logger.With("component", "relay", "listener", opts.Name)
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("relay %s: %w", opts.Name, err)
	}
	l, cur, err := opts.OpenLog(opts)
	if err != nil {
		return nil, fmt.Errorf("relay %s: open log: %w", opts.Name, err)
	}
	r := &Relay{opts: opts, log: l, cursors: cur, state: stateStore(cur, opts.Dir), metrics: opts.Metrics, logger: logger}
	r.shared, _ = l.(Shared)
	r.writeTimeout.Store(int64(opts.WriteTimeout))
	ch, err := r.prepare(opts.Outputs, opts.DeadLetterAfter)
	if err != nil {
		l.Close()
		return nil, err
	}
	if err := ch.Commit(); err != nil {
		l.Close()
		return nil, err
	}
	r.logSummary("opened")
	return r, nil
}

func checkOutputs(name string, outputs []config.OutputConfig) error {
	if len(outputs) == 0 || len(outputs) > 64 {
		return fmt.Errorf("relay %s: want 1 to 64 outputs, got %d", name, len(outputs))
	}
	return nil
}

// Start begins delivery.
func (r *Relay) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.closed.Load() {
		return
	}
	r.started = true
	ctx, cancel := context.WithCancel(context.Background())
	r.stopHouse, r.houseDone = cancel, make(chan struct{})
	if r.shared != nil {
		stop, err := r.shared.Subscribe(r)
		if err != nil {
			// Verdicts of other nodes' deliveries will not reach this
			// node's writes: consistency levels above any time out.
			r.logger.Error("cannot subscribe to the other nodes' delivery reports", "err", err)
			stop = func() {}
		}
		r.stopShare = stop
	}
	r.set.Load().start()
	go func() {
		defer close(r.houseDone)
		if r.shared != nil {
			go r.shareLoop(ctx)
		}
		r.housekeep(ctx)
	}()
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
			r.mu.Lock()
			set := r.set.Load()
			r.persistCursors(set)
			_, sharedDead := r.log.(DeadLetterLog)
			for _, w := range set.workers {
				w.checkDivergedCleared()
				if sharedDead {
					w.recountDeadLetters()
				}
			}
			r.mu.Unlock()
		}
	}
}

// persistCursors stores every moved cursor of set and lets the log drop
// what every stored cursor has passed; r.mu is held.
func (r *Relay) persistCursors(set *workerSet) {
	low := uint64(0)
	for _, w := range set.workers {
		if w.elsewhere() {
			// Another node delivers and stores this cursor; the log
			// keeps what it has not passed (Shared logs truncate by
			// the stored cursors).
			continue
		}
		next := w.next.Load()
		if w.cq != nil {
			// Before the cursor: a crash must not lose the ranges of
			// records that will not be replayed.
			if err := w.savePending(); err != nil {
				r.logger.Error("cannot save the pending continuous-query backfill", "backend", w.name, "err", err)
				next = w.persisted.Load()
			}
		}
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

// Close stops accepting deliveries in two phases: it lets the workers
// deliver until they are caught up or ctx is done, then stops them,
// persists every cursor and closes the log.
func (r *Relay) Close(ctx context.Context) error {
	if r.closed.Swap(true) {
		return nil
	}
	set := r.set.Load()
	if r.startedNow() {
		tick := time.NewTicker(20 * time.Millisecond)
	drain:
		for !set.caughtUp(r.log.LastIndex()) {
			select {
			case <-ctx.Done():
				break drain
			case <-tick.C:
			}
		}
		tick.Stop()
		// Outside r.mu: the housekeeper takes it.
		r.stopHouse()
		<-r.houseDone
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	set = r.set.Load()
	if r.started {
		set.stop()
		r.persistCursors(set)
		if r.stopShare != nil {
			r.stopShare()
		}
	}
	// After the cursors are stored: the next deliverer resumes from them.
	for _, w := range set.workers {
		if w.lease != nil {
			w.lease.Release()
		}
	}
	set.tracker.close()
	r.logSummary("closed")
	return errors.Join(closeWorkers(set.workers, nil), r.log.Close())
}

func (r *Relay) startedNow() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started
}

// closeWorkers releases the readers, dead-letter stores and connections
// of workers that are stopped (or never ran), except the stores listed in
// keep (handed on to another set).
func closeWorkers(ws []*worker, keep map[DeadLetterStore]bool) error {
	var errs []error
	for _, w := range ws {
		if w.reader != nil {
			errs = append(errs, w.reader.Close())
			w.reader = nil
		}
		if !keep[w.dead] {
			errs = append(errs, w.dead.Close())
		}
		w.sender.Close()
	}
	return errors.Join(errs...)
}

// logSummary writes one line for the log and one per backend's backlog.
func (r *Relay) logSummary(when string) {
	st := r.log.Stats()
	r.logger.Info("write log "+when, "dir", r.opts.Dir, "first_index", r.log.FirstIndex(),
		"last_index", r.log.LastIndex(), "segments", st.Segments, "bytes", st.DiskBytes)
	for _, w := range r.set.Load().workers {
		b := r.backlog(w)
		r.logger.Info("backend backlog", "backend", w.name, "records", b.Records, "bytes", b.Bytes,
			"dead_letters", w.deadLetters.Load())
	}
}

// Dir is the relay's directory.
func (r *Relay) Dir() string { return r.opts.Dir }

func deadLetterDir(relayDir, output string) string {
	return filepath.Join(relayDir, "deadletter", output)
}

// appendRecord logs a record the relay itself makes (a backfill record).
func (r *Relay) appendRecord(rec *record.Record) (uint64, error) {
	idx, err := r.log.Append(rec.Encode())
	if err == nil {
		end := r.log.EndOffset()
		for _, w := range r.set.Load().workers {
			w.noteAppend(end)
		}
	}
	return idx, err
}
