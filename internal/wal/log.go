package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// SyncMode says when Append considers a record durable.
type SyncMode uint8

const (
	// SyncAlways fsyncs every group of appends before Append returns.
	SyncAlways SyncMode = iota
	// SyncBatch returns once the record is written to the OS (it survives
	// kill -9 of the process) and fsyncs at least every SyncInterval.
	SyncBatch
	// SyncNone returns once the record is written to the OS and leaves
	// flushing to the OS; only Close fsyncs.
	SyncNone
)

// ParseSyncMode parses "always", "batch" or "none".
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "always":
		return SyncAlways, nil
	case "batch":
		return SyncBatch, nil
	case "none":
		return SyncNone, nil
	}
	return 0, fmt.Errorf("unknown sync mode %q (want always, batch or none)", s)
}

// String returns the name ParseSyncMode accepts.
func (m SyncMode) String() string {
	switch m {
	case SyncAlways:
		return "always"
	case SyncBatch:
		return "batch"
	case SyncNone:
		return "none"
	}
	return fmt.Sprintf("SyncMode(%d)", uint8(m))
}

// Defaults for zero Options fields.
const (
	DefaultSegmentSize  = 64 << 20
	DefaultSyncInterval = 100 * time.Millisecond
	DefaultCacheBytes   = 32 << 20
)

// Options configures Open. Zero fields take the defaults above.
type Options struct {
	Dir          string        // created (mode 0700) if missing
	SegmentSize  int64         // rotate before a segment would grow past this many bytes
	Sync         SyncMode      // when Append considers a record durable
	SyncInterval time.Duration // SyncBatch: fsync at least this often
	CacheBytes   int64         // payload bytes of recent records kept in memory for readers
	Logger       *slog.Logger  // may be nil

	fs fileSystem // tests inject failures here; nil means the real file system
}

// Errors returned by the log.
var (
	ErrClosed     = errors.New("wal: log closed")
	ErrTooLarge   = fmt.Errorf("wal: record larger than %d bytes", MaxRecordSize)
	ErrOutOfRange = errors.New("wal: index beyond the end of the log")
)

// segment is one segment file. The writer changes the tail's size under
// Log.mu; every other field is fixed once the segment is in Log.segs.
type segment struct {
	base       uint64 // index of the first record written to it
	baseOffset int64  // logical offset of its first data byte
	path       string
	size       int64 // data bytes after the header that belong to the log
	damaged    bool  // header unreadable; base and baseOffset were inferred
}

// Log is the durable write log. All methods are safe for concurrent use.
type Log struct {
	opts   Options
	fs     fileSystem
	logger *slog.Logger
	cache  *tailCache
	report OpenReport

	mu        sync.RWMutex
	segs      []segment // sorted by base; the last one is the tail
	lastIndex uint64
	closed    bool
	waiters   []waiter
	reported  map[uint64]uint64 // corrupt ranges already logged: from -> to

	// Close waits for in-flight appends before it stops the writer.
	closeMu  sync.RWMutex
	closing  bool
	inflight sync.WaitGroup

	truncMu sync.Mutex // serialises TruncateFront

	// spares are the paths of deleted segments kept for reuse
	// (recycle.go); spareMu is held while one is taken or put there.
	// rotations counts the segments started since the last TruncateFront:
	// how many spares the log has use for.
	spareMu   sync.Mutex
	spares    []string
	rotations atomic.Int64

	reqs chan *appendReq
	stop chan struct{}
	done chan struct{}
	w    writerState // owned by the writer goroutine

	st counters
	// onGroup, when set (by tests, before the first Append), is told the
	// number of records of each group the writer takes.
	onGroup func(records int)
}

type counters struct {
	appends, appendBytes, writes, appendErrors atomic.Uint64
	fsyncs, fsyncNanos, fsyncMaxNanos          atomic.Uint64
	fsyncErrors, corrupt, cacheHits, diskReads atomic.Uint64
}

type waiter struct {
	after uint64
	ch    chan struct{}
}

// OpenReport says what Open found and repaired.
type OpenReport struct {
	Segments       int    // segment files in use
	Records        uint64 // LastIndex-FirstIndex+1, or 0 when nothing is stored
	Bytes          int64  // bytes of the segment files, headers included
	FirstIndex     uint64
	LastIndex      uint64
	TornBytes      int64    // bytes cut from the end of the log (torn tail, torn rotation)
	CorruptRecords uint64   // records skipped as damaged in the scanned tail segment
	Problems       []string // one line per repair or oddity, also logged
}

// Open opens or creates the log in opts.Dir. It scans the newest segment,
// truncates it after its last valid record (a torn tail), skips damaged
// records it can resynchronise past, and reports what it did in OpenReport
// and through the logger. Damaged records never make it fail; only I/O
// errors and a bad directory do. Older segments are verified lazily, by the
// readers (see the package doc).
func Open(opts Options) (*Log, error) {
	if opts.Dir == "" {
		return nil, errors.New("wal: open: no directory given")
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = DefaultSyncInterval
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.Sync > SyncNone {
		return nil, fmt.Errorf("wal: open %s: invalid sync mode %d", opts.Dir, opts.Sync)
	}
	l := &Log{
		opts:     opts,
		fs:       opts.fs,
		logger:   opts.Logger,
		cache:    newTailCache(opts.CacheBytes),
		reported: make(map[uint64]uint64),
		reqs:     make(chan *appendReq, 256),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if l.fs == nil {
		l.fs = osFS{}
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	l.logger = l.logger.With("component", "wal", "dir", opts.Dir)
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", opts.Dir, err)
	}
	if err := l.recover(); err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", opts.Dir, err)
	}
	go l.run()
	return l, nil
}

// OpenReport returns what Open found and repaired.
func (l *Log) OpenReport() OpenReport {
	r := l.report
	r.Problems = append([]string(nil), r.Problems...)
	return r
}

// FirstIndex returns the oldest record still stored, 0 if the log never held
// a record. When every stored record was truncated it is LastIndex()+1.
func (l *Log) FirstIndex() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.firstIndexLocked()
}

func (l *Log) firstIndexLocked() uint64 {
	if l.lastIndex == 0 {
		return 0
	}
	return l.segs[0].base
}

// LastIndex returns the newest durable record, 0 if none was ever written.
func (l *Log) LastIndex() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.lastIndex
}

// EndOffset returns the logical byte offset just past the newest durable
// record. Offsets count frame bytes continuously across segments, so
// EndOffset()-Reader.Offset() is a reader's backlog in bytes.
func (l *Log) EndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.endOffsetLocked()
}

func (l *Log) endOffsetLocked() int64 {
	t := l.segs[len(l.segs)-1]
	return t.baseOffset + t.size
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Notify returns a channel that is closed once LastIndex() > after (at once
// if that already holds) or the log is closed.
func (l *Log) Notify(after uint64) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lastIndex > after || l.closed {
		return closedChan
	}
	for _, w := range l.waiters {
		if w.after == after {
			return w.ch
		}
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, waiter{after: after, ch: ch})
	return ch
}

// wakeLocked closes the channels of waiters that LastIndex has passed.
func (l *Log) wakeLocked() {
	keep := l.waiters[:0]
	for _, w := range l.waiters {
		if l.lastIndex > w.after || l.closed {
			close(w.ch)
		} else {
			keep = append(keep, w)
		}
	}
	clear(l.waiters[len(keep):])
	l.waiters = keep
}

// SegmentInfo describes one stored segment.
type SegmentInfo struct {
	Path       string
	FirstIndex uint64 // index of the first record written to it
	LastIndex  uint64 // index of the last record it holds; FirstIndex-1 if none
	BaseOffset int64  // logical offset of its first record
	EndOffset  int64  // logical offset just past its last record
	DiskBytes  int64  // header and data; a reused tail's file is longer (recycle.go)
	Damaged    bool   // its header was unreadable
}

// Segments lists the stored segments, oldest first.
func (l *Log) Segments() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, len(l.segs))
	for i, s := range l.segs {
		out[i] = SegmentInfo{
			Path:       s.path,
			FirstIndex: s.base,
			LastIndex:  l.segLastLocked(i),
			BaseOffset: s.baseOffset,
			EndOffset:  s.baseOffset + s.size,
			DiskBytes:  segHeaderLen + s.size,
			Damaged:    s.damaged,
		}
	}
	return out
}

// segLastLocked is the last index segment i holds: the tail ends at
// LastIndex, every other segment just before the next one's base.
func (l *Log) segLastLocked(i int) uint64 {
	if i == len(l.segs)-1 {
		return l.lastIndex
	}
	return l.segs[i+1].base - 1
}

// TruncateFront deletes whole segments whose records all have index < before.
// The newest segment is never deleted. Readers positioned before the new
// FirstIndex skip to it and report the records they missed as a Gap.
func (l *Log) TruncateFront(before uint64) error {
	l.truncMu.Lock()
	defer l.truncMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n+1].base <= before {
		n++
	}
	if n == 0 {
		l.mu.Unlock()
		return nil
	}
	// Drop them from the list before deleting the files: a reader that then
	// fails to open one sees FirstIndex already past it and reports a
	// truncation, not a missing segment.
	victims := l.segs[:n:n]
	l.segs = append([]segment(nil), l.segs[n:]...)
	first := l.segs[0].base
	for from := range l.reported {
		if from < first {
			delete(l.reported, from)
		}
	}
	l.mu.Unlock()
	l.cache.dropBefore(first)
	want := l.sparesWanted()
	errs := l.trimSpares(want)
	// The files go oldest first, and the first that cannot go stops the
	// rest: whenever this stops (an error, a crash), the segment files
	// left are still one run of indexes, found again by the next Open as
	// the oldest segments. Going newest first, a crash could leave an
	// older segment with a hole after it. The newest victims (the
	// fullest) become spares, as many as the log wants.
	spareFrom := len(victims) - l.spareRoom(want)
	for i, s := range victims {
		if i >= spareFrom && l.keepSpare(s.path, segHeaderLen+s.size, want) {
			continue
		}
		if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			break
		}
	}
	if err := l.fs.SyncDir(l.opts.Dir); err != nil {
		errs = append(errs, fmt.Errorf("sync dir: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("wal: truncate front: %w", err)
	}
	return nil
}

// Stats is a snapshot of the log's size and activity since Open.
type Stats struct {
	Segments     int
	DiskBytes    int64 // segment file bytes, headers included
	FirstIndex   uint64
	LastIndex    uint64
	EndOffset    int64
	Appends      uint64 // records appended
	AppendBytes  uint64 // payload bytes appended
	Writes       uint64 // group writes (one per group commit)
	AppendErrors uint64 // records whose Append failed
	Fsyncs       uint64
	FsyncErrors  uint64
	FsyncTime    time.Duration // total time spent in fsync
	FsyncMax     time.Duration // slowest fsync
	CacheRecords int
	CacheBytes   int64
	CacheHits    uint64 // records readers got from memory
	DiskReads    uint64 // records readers read from segment files
	// CorruptRecords counts distinct damaged or missing records found since
	// Open, by the open-time scan or by readers.
	CorruptRecords uint64
}

// Stats returns a snapshot of the log's counters.
func (l *Log) Stats() Stats {
	l.mu.RLock()
	s := Stats{
		Segments:   len(l.segs),
		FirstIndex: l.firstIndexLocked(),
		LastIndex:  l.lastIndex,
		EndOffset:  l.endOffsetLocked(),
	}
	for _, sg := range l.segs {
		s.DiskBytes += segHeaderLen + sg.size
	}
	l.mu.RUnlock()
	s.Appends = l.st.appends.Load()
	s.AppendBytes = l.st.appendBytes.Load()
	s.Writes = l.st.writes.Load()
	s.AppendErrors = l.st.appendErrors.Load()
	s.Fsyncs = l.st.fsyncs.Load()
	s.FsyncErrors = l.st.fsyncErrors.Load()
	s.FsyncTime = time.Duration(l.st.fsyncNanos.Load())
	s.FsyncMax = time.Duration(l.st.fsyncMaxNanos.Load())
	s.CacheRecords, s.CacheBytes = l.cache.size()
	s.CacheHits = l.st.cacheHits.Load()
	s.DiskReads = l.st.diskReads.Load()
	s.CorruptRecords = l.st.corrupt.Load()
	return s
}

// noteLost logs and counts records [from, to] that a scan found damaged or
// missing, once per range however many readers find it.
func (l *Log) noteLost(from, to uint64, reason GapReason, where string) {
	l.mu.Lock()
	if prev, ok := l.reported[from]; ok && prev >= to {
		l.mu.Unlock()
		return
	}
	l.reported[from] = to
	l.mu.Unlock()
	l.st.corrupt.Add(to - from + 1)
	l.logger.Error("records lost from the log", "first", from, "last", to,
		"count", to-from+1, "reason", reason.String(), "segment", filepath.Base(where))
}

// Close waits for in-flight appends, fsyncs and closes the log. Later Appends
// return ErrClosed, Reads return ErrClosed and Notify channels are closed.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if l.closing {
		l.closeMu.Unlock()
		return nil
	}
	l.closing = true
	l.closeMu.Unlock()
	l.inflight.Wait()
	close(l.stop)
	<-l.done
	l.mu.Lock()
	l.closed = true
	l.wakeLocked()
	l.mu.Unlock()
	return l.w.closeErr
}
