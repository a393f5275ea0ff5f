package relay

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/wal"
)

// deadLetters is one backend's store of records it refused while other
// replicas may have accepted them. It is a log of its own, created on first
// use, so that an operator can replay it once the backend's schema or users
// are fixed (influxgate dead-letter replay) or purge it.
type deadLetters struct {
	dir string
	mu  sync.Mutex
	log *wal.Log
}

// open opens an existing store and returns how many records it holds.
func (d *deadLetters) open() (uint64, error) {
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

func (d *deadLetters) openLocked() error {
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

func (d *deadLetters) countLocked() uint64 {
	if d.log == nil || d.log.LastIndex() == 0 || d.log.FirstIndex() == 0 {
		return 0
	}
	return d.log.LastIndex() - d.log.FirstIndex() + 1
}

func (d *deadLetters) add(rec *record.Record) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.openLocked(); err != nil {
		return err
	}
	_, err := d.log.Append(rec.Encode())
	return err
}

// drain calls fn for every stored record in order; if fn succeeds for all,
// the store is deleted.
func (d *deadLetters) drain(fn func(rec *record.Record) error) (int, error) {
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

func (d *deadLetters) close() error {
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
	n, err := w.dead.drain(func(rec *record.Record) error {
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
	n, err := w.dead.drain(func(*record.Record) error { return nil })
	if err == nil {
		w.deadLetters.Store(0)
		w.log.Info("dead letters purged", "records", n)
	}
	return n, err
}
