package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// One goroutine (run) owns the tail segment file and does every write, so the
// write path needs no lock of its own: appenders queue requests on l.reqs and
// the writer takes everything queued at that moment as one group, writes it
// with as few system calls as it can, fsyncs once (SyncAlways) and answers
// every appender in the group. Concurrent appenders therefore share an fsync
// without any timer: the longer an fsync takes, the more requests queue up
// behind it and the larger the next group gets.

const (
	maxGroupBytes   = 8 << 20  // frame bytes per group, unless one record is larger
	maxGroupRecords = 4096     // records per group
	directWriteSize = 64 << 10 // payloads this large are written in place, not copied
)

type appendReq struct {
	payload []byte
	done    chan appendResult
}

// zeroFrameHeader reserves a frame header's room in a group's buffer.
var zeroFrameHeader [frameHeaderLen]byte

type appendResult struct {
	index uint64
	err   error
}

// writerState belongs to the writer goroutine; Open sets it up before the
// goroutine starts and Close reads closeErr after it ends.
type writerState struct {
	f       segFile // the tail segment
	dirty   bool    // written since the last fsync
	truncTo int64   // when >= 0, a failed group must still be cut off here
	// recycled: the tail file is a reused segment, with an older
	// segment's bytes after the data (recycle.go).
	recycled bool
	lastSync time.Time
	buf      []byte
	pending  []*appendReq
	closeErr error
}

// Append appends payload as one record and returns its index once the record
// is durable per the sync mode (see SyncMode). Concurrent callers share one
// write and one fsync. Append takes ownership of payload: it may stay in the
// read cache, so the caller must not modify it afterwards.
//
// On an I/O error (ENOSPC, EIO) Append returns an error wrapping the cause;
// nothing of the failed group stays in the log or reaches a reader, its
// indexes are reused by the next group, and later appends try again.
func (l *Log) Append(payload []byte) (uint64, error) {
	if len(payload) > MaxRecordSize {
		return 0, ErrTooLarge
	}
	l.closeMu.RLock()
	if l.closing {
		l.closeMu.RUnlock()
		return 0, ErrClosed
	}
	l.inflight.Add(1)
	l.closeMu.RUnlock()
	defer l.inflight.Done()
	req := &appendReq{payload: payload, done: make(chan appendResult, 1)}
	l.reqs <- req
	res := <-req.done
	return res.index, res.err
}

func (l *Log) run() {
	defer close(l.done)
	var tick <-chan time.Time
	if l.opts.Sync == SyncBatch {
		t := time.NewTicker(l.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	l.w.lastSync = time.Now()
	for {
		if len(l.w.pending) == 0 {
			select {
			case r := <-l.reqs:
				l.w.pending = append(l.w.pending, r)
			case <-tick:
				l.syncBatch()
				continue
			case <-l.stop:
				// Close waited for every Append, so nothing is queued.
				l.shutdown()
				return
			}
		}
		if l.opts.Sync == SyncAlways {
			// Let appenders that are ready to run reach the queue
			// before the group is taken. The first Append readies this
			// goroutine to run next; with one P (influxgate pinned to a
			// core) it would otherwise commit that record alone while
			// the handlers already holding the next ones wait behind
			// its fsync, and every small write would pay an fsync of
			// its own. When nothing else is ready this returns at once.
			runtime.Gosched()
		}
	drain:
		for len(l.w.pending) < maxGroupRecords {
			select {
			case r := <-l.reqs:
				l.w.pending = append(l.w.pending, r)
			default:
				break drain
			}
		}
		l.commit()
		// Under constant load the select above may not see the ticker.
		if l.opts.Sync == SyncBatch && time.Since(l.w.lastSync) >= l.opts.SyncInterval {
			l.syncBatch()
		}
	}
}

// commit writes the first group of pending requests and answers them.
func (l *Log) commit() {
	l.mu.RLock()
	tail := l.segs[len(l.segs)-1]
	first := l.lastIndex + 1
	l.mu.RUnlock()

	rotate := tail.size > 0 && tail.size+frameHeaderLen+int64(len(l.w.pending[0].payload)) > l.opts.SegmentSize
	room := l.opts.SegmentSize - tail.size
	if rotate {
		room = l.opts.SegmentSize
	}
	n, bytes := 0, int64(0)
	for n < len(l.w.pending) {
		fsz := frameHeaderLen + int64(len(l.w.pending[n].payload))
		if n > 0 && (bytes+fsz > room || bytes+fsz > maxGroupBytes) {
			break
		}
		bytes += fsz
		n++
	}
	group := l.w.pending[:n]
	if l.onGroup != nil {
		l.onGroup(n)
	}

	err := l.cutBack()
	if err == nil && rotate {
		err = l.rotate()
		if err == nil {
			l.mu.RLock()
			tail = l.segs[len(l.segs)-1]
			l.mu.RUnlock()
		}
	}
	if err == nil {
		err = l.writeGroup(tail, first, group)
	}
	if err != nil {
		l.st.appendErrors.Add(uint64(n))
		err = fmt.Errorf("wal: append to %s: %w", filepath.Base(tail.path), err)
		for _, r := range group {
			r.done <- appendResult{err: err}
		}
	} else {
		l.publish(tail, first, group, bytes)
	}
	rest := copy(l.w.pending, l.w.pending[n:])
	clear(l.w.pending[rest:])
	l.w.pending = l.w.pending[:rest]
}

// writeGroup writes group to the tail at its current end and, in SyncAlways
// mode, fsyncs it. On failure it cuts the file back so that no byte of the
// group stays behind.
func (l *Log) writeGroup(tail segment, first uint64, group []*appendReq) error {
	start := segHeaderLen + tail.size
	pos := start
	buf := l.w.buf[:0]
	var err error
	flush := func() {
		if err == nil && len(buf) > 0 {
			_, err = l.w.f.WriteAt(buf, pos)
			pos += int64(len(buf))
		}
		buf = buf[:0]
	}
	for i, r := range group {
		// The header is built in buf itself: a [frameHeaderLen]byte on
		// the stack escapes (the CRC is computed through a function
		// value), one allocation per record.
		buf = append(buf, zeroFrameHeader[:]...)
		putFrameHeader(buf[len(buf)-frameHeaderLen:], first+uint64(i), r.payload)
		if len(r.payload) < directWriteSize {
			buf = append(buf, r.payload...)
			continue
		}
		flush()
		if err == nil {
			_, err = l.w.f.WriteAt(r.payload, pos)
			pos += int64(len(r.payload))
		}
	}
	flush()
	if cap(buf) <= 2*maxGroupBytes {
		l.w.buf = buf
	} else {
		l.w.buf = nil
	}
	l.w.dirty = true
	if err == nil && l.opts.Sync == SyncAlways {
		err = l.fsync()
	}
	if err != nil {
		l.w.truncTo = start
		if cerr := l.cutBack(); cerr != nil {
			l.logger.Error("cannot cut back a failed append; appends fail until it succeeds",
				"segment", filepath.Base(tail.path), "size", start, "err", cerr)
		}
		return err
	}
	return nil
}

// cutBack truncates the tail to the end of its last good record if a failed
// group left bytes behind. Until that succeeds no new group is written: a
// later, shorter group would leave frames of the failed one after it, and a
// scan after a crash could take them for records.
func (l *Log) cutBack() error {
	if l.w.truncTo < 0 {
		return nil
	}
	if err := l.w.f.Truncate(l.w.truncTo); err != nil {
		return fmt.Errorf("cut back failed append: %w", err)
	}
	l.w.truncTo = -1
	return nil
}

// publish makes a written group visible: cache first, then LastIndex, so a
// reader that sees the new LastIndex finds the records in the cache or in
// the file, never neither.
func (l *Log) publish(tail segment, first uint64, group []*appendReq, bytes int64) {
	off := tail.baseOffset + tail.size
	var payload uint64
	for i, r := range group {
		fsz := frameHeaderLen + int64(len(r.payload))
		l.cache.add(cacheEntry{index: first + uint64(i), offset: off, size: fsz, data: r.payload})
		off += fsz
		payload += uint64(len(r.payload))
	}
	l.mu.Lock()
	l.segs[len(l.segs)-1].size += bytes
	l.lastIndex = first + uint64(len(group)) - 1
	l.wakeLocked()
	l.mu.Unlock()
	l.st.appends.Add(uint64(len(group)))
	l.st.appendBytes.Add(payload)
	l.st.writes.Add(1)
	for i, r := range group {
		r.done <- appendResult{index: first + uint64(i)}
	}
}

func (l *Log) fsync() error {
	t0 := time.Now()
	err := l.w.f.Sync()
	d := uint64(time.Since(t0))
	l.w.lastSync = time.Now()
	l.st.fsyncs.Add(1)
	l.st.fsyncNanos.Add(d)
	for {
		m := l.st.fsyncMaxNanos.Load()
		if d <= m || l.st.fsyncMaxNanos.CompareAndSwap(m, d) {
			break
		}
	}
	if err != nil {
		l.st.fsyncErrors.Add(1)
		return fmt.Errorf("fsync: %w", err)
	}
	l.w.dirty = false
	return nil
}

// syncBatch is the SyncBatch timer: the records are already acknowledged, so
// a failure can only be logged, counted and retried on the next tick.
func (l *Log) syncBatch() {
	l.w.lastSync = time.Now()
	if !l.w.dirty {
		return
	}
	if err := l.fsync(); err != nil {
		l.logger.Error("periodic fsync failed; will retry", "err", err)
	}
}

// rotate seals the tail and starts a new segment after it.
func (l *Log) rotate() error {
	if l.w.dirty && l.opts.Sync != SyncNone {
		if err := l.fsync(); err != nil {
			return fmt.Errorf("seal segment: %w", err)
		}
	}
	l.mu.RLock()
	h := segHeader{baseIndex: l.lastIndex + 1, baseOffset: l.endOffsetLocked()}
	dataEnd := segHeaderLen + l.segs[len(l.segs)-1].size
	l.mu.RUnlock()
	if l.w.recycled {
		if err := l.sealRecycled(dataEnd); err != nil {
			return fmt.Errorf("seal segment: %w", err)
		}
	}
	path := filepath.Join(l.opts.Dir, segmentName(h.baseIndex))
	f, recycled := l.reuseSpare(path, h)
	if f == nil {
		var err error
		if f, err = l.createSegment(path, h); err != nil {
			return fmt.Errorf("new segment: %w", err)
		}
	}
	l.w.recycled = recycled
	l.rotations.Add(1)
	old := l.w.f
	l.mu.Lock()
	l.segs = append(l.segs, segment{base: h.baseIndex, baseOffset: h.baseOffset, path: path})
	l.mu.Unlock()
	l.w.f, l.w.dirty = f, false
	if !recycled && l.opts.Sync != SyncNone {
		l.dropBehind()
	}
	if err := old.Close(); err != nil {
		l.logger.Warn("closing sealed segment", "err", err)
	}
	return nil
}

// keepCached is how many of the newest sealed segments stay in the page
// cache while the log grows (512 MiB at the default segment size): the
// ones a delivery worker that lags a little still reads, and the ones a
// truncation soon turns into spares, whose cached pages a recycled
// rotation overwrites in place.
const keepCached = maxSpares

// dropBehind gives the cached pages of the sealed segment keepCached
// behind the tail back to the kernel. It runs when a rotation found no
// spare: nothing has been truncated for a while, because a backend lags
// or is down and the log keeps growing. Left cached, such a log takes
// fresh memory for every new segment, and on this VM writing into fresh
// pages cost the relay about twice the CPU per line of a healthy run
// (docs/performance.md); with the old pages dropped, the new ones come
// from memory just freed. The dropped segment is read again only when
// the lagging backend catches up, from disk then if need be. Its pages are
// clean: every segment is synced when sealed (not with SyncNone, where
// this is not called).
func (l *Log) dropBehind() {
	l.mu.RLock()
	path := ""
	if i := len(l.segs) - 2 - keepCached; i >= 0 { // the tail, then keepCached sealed ones
		path = l.segs[i].path
	}
	l.mu.RUnlock()
	if path == "" {
		return
	}
	f, err := os.Open(path) // read-only, for fadvise; a truncated one is gone
	if err != nil {
		return
	}
	defer f.Close()
	if err := dropCache(f); err != nil {
		l.logger.Debug("dropping a sealed segment's cached pages", "segment", filepath.Base(path), "err", err)
	}
}

// createSegment creates a segment file holding only its header and makes the
// file and its directory entry durable (unless SyncNone).
func (l *Log) createSegment(path string, h segHeader) (segFile, error) {
	// A file by this name can only be left by a rotation that failed before
	// any record went into it: its base index is past every durable record.
	if err := l.fs.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	f, err := l.fs.Create(path)
	if err != nil {
		return nil, err
	}
	if err := l.startSegment(f, h); err != nil {
		_ = f.Close()
		_ = l.fs.Remove(path)
		return nil, err
	}
	return f, nil
}

// startSegment writes a new segment's header and makes it and the file's
// directory entry durable (unless SyncNone).
func (l *Log) startSegment(f segFile, h segHeader) error {
	if _, err := f.WriteAt(h.encode(), 0); err != nil || l.opts.Sync == SyncNone {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return l.fs.SyncDir(l.opts.Dir)
}

// shutdown is the writer's last act: cut back a failed group, fsync, close.
func (l *Log) shutdown() {
	err := l.cutBack()
	if l.w.dirty || err != nil {
		err = errors.Join(err, l.fsync())
	}
	if cerr := l.w.f.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		l.w.closeErr = fmt.Errorf("wal: close %s: %w", l.opts.Dir, err)
	}
}
