package relay

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/wal"
)

// DeadLetterStore is one backend's store of records it refused while other
// replicas may have accepted them, so that an operator can replay it once
// the backend's schema or users are fixed (influxgate dead-letter replay)
// or purge it.
type DeadLetterStore interface {
	// Open opens the store and returns how many records it holds.
	Open() (uint64, error)
	Add(rec *record.Record) error
	// Drain calls fn for every stored record in order; if fn succeeds for
	// all, they are deleted (records added meanwhile stay).
	Drain(fn func(rec *record.Record) error) (int, error)
	Close() error
}

// DeadLetterLog is a Log that keeps its backends' dead letters itself: a
// shared log does, so that they outlive the node that stored them. Other
// logs get fileDeadLetters under the relay's directory.
type DeadLetterLog interface {
	DeadLetters(backend string) DeadLetterStore
}

// fileDeadLetters is the dead-letter store of a local log: a log of its
// own under <relay dir>/deadletter/<output>, created on first use.
type fileDeadLetters struct {
	dir string
	mu  sync.Mutex
	log *wal.Log
}

// Open opens an existing store and returns how many records it holds.
func (d *fileDeadLetters) Open() (uint64, error) {
	if _, err := os.Stat(d.dir); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.openLocked(); err != nil {
		return 0, err
	}
	return d.countLocked(), nil
}

func (d *fileDeadLetters) openLocked() error {
	if d.log != nil {
		return nil
	}
	l, err := wal.Open(wal.Options{Dir: d.dir, Sync: wal.SyncAlways, SegmentSize: 16 << 20, CacheBytes: 1})
	if err != nil {
		return err
	}
	d.log = l
	return nil
}

func (d *fileDeadLetters) countLocked() uint64 {
	if d.log == nil || d.log.LastIndex() == 0 || d.log.FirstIndex() == 0 {
		return 0
	}
	return d.log.LastIndex() - d.log.FirstIndex() + 1
}

func (d *fileDeadLetters) Add(rec *record.Record) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.openLocked(); err != nil {
		return err
	}
	_, err := d.log.Append(rec.Encode())
	return err
}

// Drain calls fn for every stored record in order; if fn succeeds for all,
// the store is deleted (the daemon is not running: nothing is added
// meanwhile).
func (d *fileDeadLetters) Drain(fn func(rec *record.Record) error) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.log == nil {
		if _, err := os.Stat(d.dir); errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		if err := d.openLocked(); err != nil {
			return 0, err
		}
	}
	n := 0
	if d.countLocked() > 0 {
		rd, err := d.log.NewReader(d.log.FirstIndex())
		if err != nil {
			return 0, err
		}
		defer rd.Close()
		for {
			entries, err := rd.Read(4 << 20)
			if err != nil {
				return n, err
			}
			if len(entries) == 0 {
				break
			}
			for _, e := range entries {
				rec, err := record.Decode(e.Data)
				if err != nil {
					return n, fmt.Errorf("dead-letter record %d: %w", e.Index, err)
				}
				if err := fn(&rec); err != nil {
					return n, err
				}
				n++
			}
		}
	}
	err := d.log.Close()
	d.log = nil
	if err != nil {
		return n, err
	}
	return n, os.RemoveAll(d.dir)
}

func (d *fileDeadLetters) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.log == nil {
		return nil
	}
	err := d.log.Close()
	d.log = nil
	return err
}

// ReplayDeadLetters appends the records in output name's dead-letter store
// back to the log, addressed to that output only, and empties the store.
// Use it once the backend's schema or users are fixed.
func (r *Relay) ReplayDeadLetters(name string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.set.Load().byName[name]
	if w == nil {
		return 0, fmt.Errorf("no output named %q", name)
	}
	n, err := w.dead.Drain(func(rec *record.Record) error {
		rec.Only = name
		_, err := r.log.Append(rec.Encode())
		return err
	})
	if err != nil {
		// The records replayed so far are in the log and still in the
		// store: a second replay sends them twice, which is harmless.
		return n, err
	}
	w.deadLetters.Store(0)
	w.log.Info("dead letters replayed into the log", "records", n)
	return n, nil
}

// PurgeDeadLetters deletes output name's dead-letter store.
func (r *Relay) PurgeDeadLetters(name string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.set.Load().byName[name]
	if w == nil {
		return 0, fmt.Errorf("no output named %q", name)
	}
	n, err := w.dead.Drain(func(*record.Record) error { return nil })
	if err == nil {
		w.deadLetters.Store(0)
		w.log.Info("dead letters purged", "records", n)
	}
	return n, err
}

// deadLetterStore returns output name's dead-letter store: the log's own
// when it keeps them, files under the relay's directory otherwise.
func (r *Relay) deadLetterStore(name string) DeadLetterStore {
	if dl, ok := r.log.(DeadLetterLog); ok {
		return dl.DeadLetters(name)
	}
	return &fileDeadLetters{dir: deadLetterDir(r.opts.Dir, name)}
}

// recountDeadLetters reads the count of a store that other processes
// change too (a shared log's: `influxgate dead-letter replay` runs beside
// the daemons), so that /health does not go on showing records that were
// replayed. Only the deliverer counts; the other nodes mirror it.
func (w *worker) recountDeadLetters() {
	if w.deadLetters.Load() == 0 || w.elsewhere() {
		return
	}
	if n, err := w.dead.Open(); err == nil {
		w.deadLetters.Store(n)
	}
}
