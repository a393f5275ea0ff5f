package relay

import (
	"path/filepath"

	"github.com/influxgate/influxgate/internal/wal"
)

// Log is the durable log a relay appends to and its workers read from,
// each from its own cursor. The local segmented log (package wal) is one
// implementation; a replicated log is meant to be another, so the relay
// uses nothing of a log but this.
type Log interface {
	// Append stores payload durably (per the log's sync setting) and
	// returns its index; indexes grow by one from 1.
	Append(payload []byte) (uint64, error)
	// FirstIndex is the oldest index still held (0 when empty).
	FirstIndex() uint64
	// LastIndex is the newest index appended (0 when nothing was).
	LastIndex() uint64
	// EndOffset is the log's size in bytes since its creation: backlogs
	// and caps are measured as differences of offsets.
	EndOffset() int64
	// Notify returns a channel closed once an index after after exists.
	Notify(after uint64) <-chan struct{}
	// NewReader returns a reader positioned at index from.
	NewReader(from uint64) (LogReader, error)
	// TruncateFront lets go of records before index before, which every
	// consumer has passed.
	TruncateFront(before uint64) error
	Stats() wal.Stats
	Close() error
}

// LogReader reads a log in order from a position.
type LogReader interface {
	// Read returns the next records, up to about maxBytes of payload
	// (at least one when any is there), and nothing when it is at the end.
	Read(maxBytes int) ([]wal.Entry, error)
	// Next is the index the next Read starts at; Offset its log offset.
	Next() uint64
	Offset() int64
	// Gaps returns, once, the ranges Read had to skip since the last call
	// (records damaged on disk or gone with their segment).
	Gaps() []wal.Gap
	// Seek moves the reader to index to.
	Seek(to uint64) error
	Close() error
}

// CursorStore persists one position per backend.
type CursorStore interface {
	Load(name string) (uint64, bool)
	Store(name string, index uint64) error
	Delete(name string) error
	Names() []string
	// Damaged names the backends whose stored position could not be read
	// back, with why. Their backends must replay from the oldest record:
	// starting anywhere later could skip records they never received.
	Damaged() map[string]error
}

// OpenLogFunc opens the log and cursor store of a relay.
type OpenLogFunc func(opts Options) (Log, CursorStore, error)

// openLocal opens the local segmented log under opts.Dir/log and the
// cursor files under opts.Dir/cursors.
func openLocal(opts Options) (Log, CursorStore, error) {
	l, err := wal.Open(wal.Options{
		Dir:          filepath.Join(opts.Dir, "log"),
		SegmentSize:  segmentSize(opts),
		CacheBytes:   cacheBytes(opts),
		Sync:         opts.Sync,
		SyncInterval: opts.SyncInterval,
		Logger:       opts.Logger.With("listener", opts.Name),
	})
	if err != nil {
		return nil, nil, err
	}
	cur, err := wal.OpenCursors(filepath.Join(opts.Dir, "cursors"))
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	return localLog{l}, cur, nil
}

// localLog adapts *wal.Log to Log (its NewReader returns the concrete
// reader type).
type localLog struct{ *wal.Log }

func (l localLog) NewReader(from uint64) (LogReader, error) {
	rd, err := l.Log.NewReader(from)
	if err != nil {
		return nil, err
	}
	return rd, nil
}

// cacheBytes is the tail cache of the local log. A caught-up backend reads
// a record milliseconds after its append; 8 MiB covers tens of
// milliseconds at full speed and keeps the process small. A backend
// further behind reads the segment files (the page cache, usually).
func cacheBytes(opts Options) int64 {
	if opts.CacheBytes > 0 {
		return opts.CacheBytes
	}
	return 8 << 20
}

// segmentSize is the local log's segment size: 64 MiB, or less when an
// output's buffer-size-mb is small, so that the overflow policy and
// segment deletion work at a useful granularity.
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
