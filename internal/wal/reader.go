package wal

import (
	"errors"
	"fmt"
	"os"
	"sort"
)

// Entry is one record returned by Reader.Read.
type Entry struct {
	Index  uint64
	Offset int64 // logical byte offset of the record's frame
	Size   int64 // bytes the record occupies in the log, frame header included
	// Data is the payload; treat it as read-only. If Cached is false it points
	// into the reader's buffer and is valid only until the next Read, Seek,
	// SeekOffset or Close on that reader. If Cached is true it is the slice
	// given to Append and stays valid.
	Data   []byte
	Cached bool
}

// GapReason says why a reader skipped records.
type GapReason uint8

// Reasons for a Gap.
const (
	GapTruncated GapReason = iota + 1 // removed by TruncateFront before the reader got there
	GapCorrupt                        // damaged on disk (checksum or framing)
	GapMissing                        // the segment file ends early or is gone
)

// String returns the reason as a word for logs and metrics labels.
func (g GapReason) String() string {
	switch g {
	case GapTruncated:
		return "truncated"
	case GapCorrupt:
		return "corrupt"
	case GapMissing:
		return "missing"
	}
	return fmt.Sprintf("GapReason(%d)", uint8(g))
}

// Gap is a range of records [From, To] a reader passed over without
// returning them.
type Gap struct {
	From, To uint64
	Reason   GapReason
}

// Reader reads records in index order. It belongs to one goroutine. Records
// still in the tail cache come from memory; older ones are read sequentially
// from the segment files and their checksums verified.
type Reader struct {
	l      *Log
	next   uint64 // index of the next record to return
	off    int64  // logical offset of that record
	gaps   []Gap
	closed bool

	f     *os.File // segment file being read
	fbase uint64   // its base index
	sc    *frameScanner
	arena []byte
	out   []Entry
}

// segView is a consistent copy of one segment's place in the log.
type segView struct {
	segment
	last     uint64 // last index it holds
	nextBase int64  // base offset of the following segment, or its own end for the tail
}

// view is a consistent snapshot of the log's bounds.
type view struct {
	first, last uint64
	end         int64
	firstOffset int64
	closed      bool
}

func (l *Log) view() view {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return view{
		first: l.firstIndexLocked(), last: l.lastIndex, end: l.endOffsetLocked(),
		firstOffset: l.segs[0].baseOffset, closed: l.closed,
	}
}

func (l *Log) segViewLocked(i int) segView {
	v := segView{segment: l.segs[i], last: l.segLastLocked(i)}
	if i+1 < len(l.segs) {
		v.nextBase = l.segs[i+1].baseOffset
	} else {
		v.nextBase = v.baseOffset + v.size
	}
	return v
}

// segmentFor returns the segment that holds index idx.
func (l *Log) segmentFor(idx uint64) (segView, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > idx }) - 1
	if i < 0 {
		return segView{}, false
	}
	return l.segViewLocked(i), true
}

// segmentAtOffset returns the segment whose data range holds logical offset off.
func (l *Log) segmentAtOffset(off int64) segView {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].baseOffset > off }) - 1
	return l.segViewLocked(max(i, 0))
}

// NewReader returns a reader positioned at index from. From 0 means the
// oldest stored record. If from < FirstIndex the reader starts at FirstIndex
// and Gaps reports the missed range; from > LastIndex+1 is ErrOutOfRange.
func (l *Log) NewReader(from uint64) (*Reader, error) {
	r := &Reader{l: l, sc: newFrameScanner(nil, 0)}
	if from == 0 {
		from = max(l.FirstIndex(), 1)
	}
	if err := r.Seek(from); err != nil {
		return nil, err
	}
	return r, nil
}

// Next returns the index of the next record Read would return.
func (r *Reader) Next() uint64 { return r.next }

// Offset returns the logical offset of the next record; EndOffset()-Offset()
// is the reader's backlog in bytes.
func (r *Reader) Offset() int64 { return r.off }

// Gaps returns the ranges of records the reader skipped since the last call
// (truncated, damaged or missing) and forgets them.
func (r *Reader) Gaps() []Gap {
	g := r.gaps
	r.gaps = nil
	return g
}

func (r *Reader) skip(from, to uint64, reason GapReason, path string) {
	if from > to {
		return
	}
	r.gaps = append(r.gaps, Gap{From: from, To: to, Reason: reason})
	if reason != GapTruncated {
		r.l.noteLost(from, to, reason, path)
	}
}

// Read returns the next records in order: at least one if any durable record
// lies beyond the reader's position, and no more than fit in maxBytes of
// payload (but always one, however large). It returns (nil, nil) when the
// reader is at the end of the log. Damaged or missing records are skipped
// and reported by Gaps.
func (r *Reader) Read(maxBytes int) ([]Entry, error) {
	if r.closed {
		return nil, ErrClosed
	}
	r.trimBuffers()
	for {
		v := r.l.view()
		if v.closed {
			return nil, ErrClosed
		}
		if r.next < v.first {
			r.skip(r.next, v.first-1, GapTruncated, "")
			r.next, r.off = v.first, v.firstOffset
		}
		if r.next > v.last {
			return nil, nil
		}
		out := r.l.cache.read(r.out[:0], r.next, v.last, maxBytes)
		if len(out) > 0 {
			e := out[len(out)-1]
			r.next, r.off = e.Index+1, e.Offset+e.Size
			r.out = out
			r.l.st.cacheHits.Add(uint64(len(out)))
			return out, nil
		}
		out, err := r.readDisk(maxBytes, v.last)
		if len(out) > 0 || err != nil {
			return out, err
		}
		// Nothing read: every record up to v.last was skipped as lost (the
		// next round returns nil at the end), or TruncateFront removed the
		// segment under the reader (the next round reports the gap).
	}
}

// trimBuffers drops a buffer that one huge record made huge.
func (r *Reader) trimBuffers() {
	if cap(r.arena) > 8<<20 {
		r.arena = nil
	}
}

func (r *Reader) readDisk(maxBytes int, last uint64) ([]Entry, error) {
	out, arena := r.out[:0], r.arena[:0]
	budget := int64(maxBytes)
	defer func() {
		r.out, r.arena = out, arena
		r.l.st.diskReads.Add(uint64(len(out)))
	}()
	cacheFirst := r.l.cache.first()
scan:
	for r.next <= last {
		if len(out) > 0 && cacheFirst != 0 && r.next >= cacheFirst {
			break // caught up with the cache: the next Read is served from memory
		}
		seg, ok := r.l.segmentFor(r.next)
		if !ok {
			break // truncated meanwhile; the next Read reports it
		}
		if err := r.open(seg); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				return out, err
			}
			if !r.lost(seg.last, GapMissing, seg.path) {
				break
			}
			r.next, r.off = seg.last+1, seg.nextBase
			continue
		}
		if r.off < seg.baseOffset || r.off > seg.baseOffset+seg.size {
			if err := r.scanToIndex(seg, r.next); err != nil {
				return out, err
			}
		}
		pos := segHeaderLen + r.off - seg.baseOffset
		if pos >= r.sc.end {
			// The file ends before the records it should hold.
			if !r.lost(seg.last, GapMissing, seg.path) {
				break
			}
			r.next, r.off = seg.last+1, seg.nextBase
			continue
		}
		h, _, ok, err := r.sc.frameAt(pos, false)
		if err != nil {
			return out, fmt.Errorf("wal: read %s: %w", seg.path, err)
		}
		switch {
		case ok && h.index == r.next:
			if len(out) > 0 && int64(h.length) > budget {
				return out, nil
			}
			start := len(arena)
			var good bool
			arena, good, err = r.sc.appendPayload(arena, pos, h)
			if err != nil {
				return out, fmt.Errorf("wal: read %s: %w", seg.path, err)
			}
			if !good { // the header is sound, so only this record is lost
				if !r.lost(r.next, GapCorrupt, seg.path) {
					break scan
				}
			} else {
				// Earlier entries may point into an array append replaced;
				// that array is left untouched until the next Read.
				out = append(out, Entry{Index: r.next, Offset: r.off, Size: h.frameSize(),
					Data: arena[start:len(arena):len(arena)]})
				budget -= int64(h.length)
			}
			r.next++
			r.off += h.frameSize()
		case ok && h.index > r.next && h.index <= seg.last:
			if !r.lost(h.index-1, GapCorrupt, seg.path) {
				break scan
			}
			r.next = h.index
		default:
			p, h2, found, err := r.sc.resync(pos+1, r.next-1)
			if err != nil {
				return out, fmt.Errorf("wal: read %s: %w", seg.path, err)
			}
			if found && h2.index <= seg.last {
				if !r.lost(h2.index-1, GapCorrupt, seg.path) {
					break scan
				}
				r.next, r.off = h2.index, r.off+(p-pos)
			} else {
				if !r.lost(seg.last, GapCorrupt, seg.path) {
					break scan
				}
				r.next, r.off = seg.last+1, seg.nextBase
			}
		}
	}
	return out, nil
}

// lost reports the records from r.next to to as lost for reason, unless
// TruncateFront has removed them meanwhile: then the segment's file may
// be gone, or renamed and reused by a later segment (recycle.go), so what
// the reader found there says nothing of the records; it reports false,
// and the next Read reports the truncation. TruncateFront moves FirstIndex
// before it touches a file, so a reader that sees a removed or reused file
// sees the new FirstIndex too.
func (r *Reader) lost(to uint64, reason GapReason, path string) bool {
	if r.next < r.l.FirstIndex() {
		return false
	}
	r.skip(r.next, to, reason, path)
	return true
}

// open makes r.f the file of seg and bounds the scanner by seg's data.
func (r *Reader) open(seg segView) error {
	if r.f == nil || r.fbase != seg.base {
		f, err := os.Open(seg.path)
		if err != nil {
			return err
		}
		r.closeFile()
		r.f, r.fbase = f, seg.base
		r.sc.f, r.sc.win, r.sc.winPos = f, nil, 0
	}
	r.sc.end = segHeaderLen + seg.size
	return nil
}

func (r *Reader) closeFile() {
	if r.f != nil {
		_ = r.f.Close()
		r.f = nil
		r.sc.f, r.sc.win = nil, nil
	}
}

// scan walks seg's frames from the start (headers only; payloads are
// verified when read) until stop accepts one. It returns that frame's file
// position and header, or found=false at the end of the segment.
func (r *Reader) scan(seg segView, stop func(pos int64, h frameHeader) bool) (int64, frameHeader, bool, error) {
	if err := r.open(seg); err != nil {
		return 0, frameHeader{}, false, err
	}
	pos, prev := int64(segHeaderLen), seg.base-1
	for pos < r.sc.end {
		h, _, ok, err := r.sc.frameAt(pos, false)
		if err != nil {
			return 0, frameHeader{}, false, err
		}
		if !ok || h.index <= prev {
			p, h2, found, err := r.sc.resync(pos+1, prev)
			if err != nil || !found {
				return 0, frameHeader{}, false, err
			}
			pos, h = p, h2
		}
		if stop(pos, h) {
			return pos, h, true, nil
		}
		prev = h.index
		pos += h.frameSize()
	}
	return 0, frameHeader{}, false, nil
}

// scanToIndex sets r.off to the frame holding index idx, or to the first
// frame after it (Read then reports the gap), or to the segment's end.
func (r *Reader) scanToIndex(seg segView, idx uint64) error {
	pos, _, found, err := r.scan(seg, func(_ int64, h frameHeader) bool { return h.index >= idx })
	if err != nil {
		return fmt.Errorf("wal: seek %d in %s: %w", idx, seg.path, err)
	}
	if !found {
		pos = r.sc.end
	}
	r.next, r.off = idx, seg.baseOffset+pos-segHeaderLen
	return nil
}

// Seek positions the reader at index to, forward or back. If to < FirstIndex
// it goes to FirstIndex and Gaps reports the range; to > LastIndex+1 is
// ErrOutOfRange.
func (r *Reader) Seek(to uint64) error {
	if r.closed {
		return ErrClosed
	}
	v := r.l.view()
	if v.closed {
		return ErrClosed
	}
	to = max(to, 1)
	if v.last > 0 && to < v.first {
		r.skip(to, v.first-1, GapTruncated, "")
		to = v.first
	}
	if to > v.last+1 {
		return fmt.Errorf("%w: seek to %d, last index is %d", ErrOutOfRange, to, v.last)
	}
	if to == v.last+1 {
		r.next, r.off = to, v.end
		return nil
	}
	if e, ok := r.l.cache.lookup(to); ok {
		r.next, r.off = to, e.offset
		return nil
	}
	seg, ok := r.l.segmentFor(to)
	if !ok {
		return fmt.Errorf("wal: seek to %d: no segment holds it", to)
	}
	if err := r.scanToIndex(seg, to); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			r.next, r.off = to, seg.baseOffset // Read reports it
			return nil
		}
		return err
	}
	return nil
}

// SeekOffset moves the reader to the first record whose offset is >= off
// (to the end of the log if there is none). It finds the segment by offset
// and scans frame headers within it.
func (r *Reader) SeekOffset(off int64) error {
	if r.closed {
		return ErrClosed
	}
	v := r.l.view()
	if v.closed {
		return ErrClosed
	}
	if v.last == 0 || off >= v.end {
		r.next, r.off = v.last+1, v.end
		return nil
	}
	if off <= v.firstOffset {
		return r.Seek(v.first)
	}
	if e, ok := r.l.cache.firstAtOffset(off); ok {
		r.next, r.off = e.index, e.offset
		return nil
	}
	seg := r.l.segmentAtOffset(off)
	pos, h, found, err := r.scan(seg, func(pos int64, _ frameHeader) bool {
		return seg.baseOffset+pos-segHeaderLen >= off
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("wal: seek to offset %d in %s: %w", off, seg.path, err)
	}
	if found {
		r.next, r.off = h.index, seg.baseOffset+pos-segHeaderLen
		return nil
	}
	r.next, r.off = seg.last+1, seg.nextBase
	if r.next > v.last {
		r.off = v.end
	}
	return nil
}

// Close releases the reader's file. Later calls return ErrClosed.
func (r *Reader) Close() error {
	r.closed = true
	r.closeFile()
	r.out, r.arena = nil, nil
	return nil
}
