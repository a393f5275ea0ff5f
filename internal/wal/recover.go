package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// recover builds the segment list from the directory, repairs the tail
// segment and opens it for appending. It runs before the writer starts.
func (l *Log) recover() error {
	l.w.truncTo = -1
	dir := l.opts.Dir
	type candidate struct {
		base uint64
		path string
		size int64
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var cands []candidate
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == lockFileName {
			continue
		}
		if isSpareName(name) {
			l.spares = append(l.spares, filepath.Join(dir, name)) // a deleted segment kept for reuse
			continue
		}
		base, ok := parseSegmentName(name)
		if !ok {
			l.problem("ignoring unknown file", "file", name)
			continue
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			l.problem("ignoring segment name that is not a regular file", "file", name)
			continue
		}
		cands = append(cands, candidate{base: base, path: filepath.Join(dir, name), size: info.Size()})
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].base < cands[j].base })

	// A rotation that crashed before its header was whole leaves a last file
	// with no record in it: remove it, the segment before is the tail again.
	for len(cands) > 0 {
		c := cands[len(cands)-1]
		if c.size > segHeaderLen {
			break
		}
		if c.size == segHeaderLen {
			if hb, err := readHeader(c.path); err == nil {
				if h, err := decodeSegHeader(hb); err == nil && h.baseIndex == c.base {
					break // a valid empty tail
				}
			}
		}
		if err := l.fs.Remove(c.path); err != nil {
			return fmt.Errorf("remove torn segment: %w", err)
		}
		l.report.TornBytes += c.size
		l.problem("removed segment file left by an interrupted rotation",
			"file", filepath.Base(c.path), "bytes", c.size)
		cands = cands[:len(cands)-1]
	}

	for _, c := range cands {
		s := segment{base: c.base, path: c.path, size: max(c.size-segHeaderLen, 0)}
		var prevEnd int64
		if n := len(l.segs); n > 0 {
			prevEnd = l.segs[n-1].baseOffset + l.segs[n-1].size
		}
		hb, err := readHeader(c.path)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return err
		}
		h, herr := decodeSegHeader(hb)
		if herr == nil && h.baseIndex != c.base {
			herr = fmt.Errorf("segment header: base index %d does not match the file name", h.baseIndex)
		}
		switch {
		case herr == nil:
			s.baseOffset = h.baseOffset
		case c.size <= segHeaderLen:
			// No header and no room for a record: it holds nothing, and
			// keeping it would cut the index range of the segment before.
			if err := l.fs.Remove(c.path); err != nil {
				return fmt.Errorf("remove empty segment: %w", err)
			}
			l.problem("removed segment file with no header and no records",
				"file", filepath.Base(c.path), "bytes", c.size)
			continue
		default:
			s.damaged, s.baseOffset = true, prevEnd
			l.problem("segment header damaged; its records are still found by their frames",
				"file", filepath.Base(c.path), "err", herr)
		}
		l.segs = append(l.segs, s)
	}

	if len(l.segs) == 0 {
		path := filepath.Join(dir, segmentName(1))
		f, err := l.createSegment(path, segHeader{baseIndex: 1})
		if err != nil {
			return fmt.Errorf("create first segment: %w", err)
		}
		l.w.f = f
		l.segs = []segment{{base: 1, path: path}}
	} else if err := l.recoverTail(); err != nil {
		return err
	}

	r := &l.report
	r.Segments = len(l.segs)
	for _, s := range l.segs {
		r.Bytes += segHeaderLen + s.size
	}
	r.FirstIndex, r.LastIndex = l.firstIndexLocked(), l.lastIndex
	if r.LastIndex > 0 && r.LastIndex >= r.FirstIndex {
		r.Records = r.LastIndex - r.FirstIndex + 1
	}
	l.logger.Info("log opened", "segments", r.Segments, "bytes", r.Bytes,
		"first", r.FirstIndex, "last", r.LastIndex, "torn_bytes", r.TornBytes,
		"corrupt_records", r.CorruptRecords, "problems", len(r.Problems))
	return nil
}

// recoverTail scans the last segment frame by frame. Damaged records followed
// by valid ones are skipped (and counted); whatever follows the last valid
// frame is a torn write and is cut off, so that appends continue right after
// the last record a reader could have seen.
func (l *Log) recoverTail() error {
	ti := len(l.segs) - 1
	tail := &l.segs[ti]
	f, err := l.fs.OpenRW(tail.path)
	if err != nil {
		return err
	}
	l.w.f = f
	if tail.damaged {
		h := segHeader{baseIndex: tail.base, baseOffset: tail.baseOffset}
		if _, err := f.WriteAt(h.encode(), 0); err != nil {
			return fmt.Errorf("rewrite damaged tail header: %w", err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("rewrite damaged tail header: %w", err)
		}
		tail.damaged = false
		l.problem("rewrote the damaged header of the newest segment", "file", filepath.Base(tail.path))
	}
	fileEnd := segHeaderLen + tail.size
	sc := newFrameScanner(f, fileEnd)
	pos, validEnd := int64(segHeaderLen), int64(segHeaderLen)
	last := tail.base - 1
	// older: a valid frame of a segment this file held before it was
	// reused (recycle.go) follows the data.
	older := false
	for pos < fileEnd {
		h, _, ok, err := sc.frameAt(pos, true)
		if err != nil {
			return fmt.Errorf("scan %s: %w", filepath.Base(tail.path), err)
		}
		older = older || (ok && h.index < tail.base)
		if ok && h.index > last {
			if h.index > last+1 {
				l.lostAtOpen(last+1, h.index-1, tail.path)
			}
			last = h.index
			pos += h.frameSize()
			validEnd = pos
			continue
		}
		next, h2, found, err := sc.resync(pos+1, last)
		if err != nil {
			return fmt.Errorf("scan %s: %w", filepath.Base(tail.path), err)
		}
		if !found {
			break
		}
		if h2.index == last+1 {
			l.problem("skipped damaged bytes between records", "file", filepath.Base(tail.path),
				"offset", pos, "bytes", next-pos)
		}
		pos = next
	}
	older = older || sc.olderSkipped(tail.base)
	if validEnd < fileEnd {
		if err := f.Truncate(validEnd); err != nil {
			return fmt.Errorf("truncate torn tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("truncate torn tail: %w", err)
		}
		if older {
			// The rest of a reused segment, not a torn write.
			l.logger.Info("cut the unused rest of a reused segment", "file", filepath.Base(tail.path),
				"offset", validEnd, "bytes", fileEnd-validEnd)
		} else {
			l.report.TornBytes += fileEnd - validEnd
			l.problem("truncated torn tail", "file", filepath.Base(tail.path),
				"offset", validEnd, "bytes", fileEnd-validEnd)
		}
	}
	tail.size = validEnd - segHeaderLen
	l.lastIndex = last
	return nil
}

func (l *Log) lostAtOpen(from, to uint64, path string) {
	// noteLost logs it; the report gets the same line.
	l.report.CorruptRecords += to - from + 1
	l.report.Problems = append(l.report.Problems, fmt.Sprintf(
		"skipped damaged records file=%s first=%d last=%d", filepath.Base(path), from, to))
	l.noteLost(from, to, GapCorrupt, path)
}

// problem records an oddity found at open in the report and the log.
func (l *Log) problem(msg string, args ...any) {
	line := msg
	for i := 0; i+1 < len(args); i += 2 {
		line += fmt.Sprintf(" %v=%v", args[i], args[i+1])
	}
	l.report.Problems = append(l.report.Problems, line)
	l.logger.Warn(msg, args...)
}

func readHeader(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, segHeaderLen)
	n, err := f.ReadAt(b, 0)
	return b[:n], err
}
