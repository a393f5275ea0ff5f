package wal

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Segment recycling. A group commit that makes its file grow must make
// the new blocks and the new size durable too, so its fdatasync writes
// metadata as well as the data; a group written over blocks the file
// already has does not.
// Measured on the development VM (docs/performance.md): write + fdatasync
// of a 1.4 MB group 1.59 ms when the file grows, 1.24 ms over written
// blocks; 64 KB groups 300 and 192 µs. Removing a 64 MiB segment costs
// too: 27 ms in unlink, 6.5 ms of it CPU. So TruncateFront keeps deleted
// segments as spares (spareName, spareName.1, ...) instead of removing
// them, and rotate starts the next segment in one: a new header over the
// old one, the file left at its old length.
//
// How many: as many segments as the log started since the previous
// TruncateFront that deleted any (at least one, at most maxSpares): the
// rotations the next interval will likely need. A log that fills a
// segment a minute keeps one spare; one written at hundreds of MB/s,
// whose cursors move once a second, keeps several, and gives them back
// when its rate drops.
//
// What follows the data in a reused file is the older segment's frames,
// all with indexes below the new base. Nothing reads them: readers stop
// at a segment's size, which the writer keeps; Open's scan of the tail
// takes no frame whose index is not past the last one it found, sees
// such older frames as the end of the data and cuts them off quietly; and
// rotate cuts a reused segment back to its data before it seals it, since
// Open sizes sealed segments by their files. A crash between the rename
// and a durable header leaves a file whose header does not match its
// name, which Open repairs as any damaged tail header.

// maxSpares bounds the spares of one log: 8 segments, 512 MiB at the
// default segment size, are kept only while the log starts that many
// segments between two truncations.
const maxSpares = 8

// isSpareName reports whether a file in the log's directory is a spare.
func isSpareName(name string) bool {
	if name == spareName {
		return true
	}
	suffix, ok := strings.CutPrefix(name, spareName+".")
	n, err := strconv.ParseUint(suffix, 10, 64)
	return ok && err == nil && n > 0
}

// reuseSpare renames a spare to path and writes h over its header. It
// returns nil when there is no spare or it could not be reused (the spare
// is then removed, and the caller creates the segment as usual).
func (l *Log) reuseSpare(path string, h segHeader) (segFile, bool) {
	l.spareMu.Lock()
	defer l.spareMu.Unlock()
	if len(l.spares) == 0 {
		return nil, false
	}
	// The newest spare first: TruncateFront adds them oldest first.
	spare := l.spares[len(l.spares)-1]
	l.spares = l.spares[:len(l.spares)-1]
	fail := func(what string, err error, remove string) (segFile, bool) {
		_ = l.fs.Remove(remove)
		l.logger.Warn("cannot reuse a deleted segment; creating a new one", "step", what, "err", err)
		return nil, false
	}
	// As in createSegment: a file by this name holds no durable record.
	if err := l.fs.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail("remove", err, spare)
	}
	if err := l.fs.Rename(spare, path); err != nil {
		return fail("rename", err, spare)
	}
	f, err := l.fs.OpenRW(path)
	if err != nil {
		return fail("open", err, path)
	}
	if err := l.startSegment(f, h); err != nil {
		_ = f.Close()
		return fail("header", err, path)
	}
	return f, true
}

// sealRecycled cuts the reused tail file back to the end of its data
// before the writer leaves it.
func (l *Log) sealRecycled(dataEnd int64) error {
	if err := l.w.f.Truncate(dataEnd); err != nil {
		return err
	}
	l.w.recycled = false
	if l.opts.Sync == SyncNone {
		return nil
	}
	return l.w.f.Sync()
}

// sparesWanted is how many spares to keep after a truncation: the
// segments started since the previous one, within 1..maxSpares.
func (l *Log) sparesWanted() int {
	return int(min(max(l.rotations.Swap(0), 1), maxSpares))
}

// spareRoom is how many more spares the log has room for under want.
func (l *Log) spareRoom(want int) int {
	l.spareMu.Lock()
	defer l.spareMu.Unlock()
	return max(want-len(l.spares), 0)
}

// keepSpare makes the deleted segment at path a spare if the log has
// fewer than want and it is worth keeping (at least half a segment: a
// small one would make the next segment grow all the same). It reports
// whether it did; otherwise the caller removes the file.
func (l *Log) keepSpare(path string, size int64, want int) bool {
	if size < l.opts.SegmentSize/2 {
		return false
	}
	l.spareMu.Lock()
	defer l.spareMu.Unlock()
	if len(l.spares) >= want {
		return false
	}
	spare := l.freeSpareNameLocked()
	if err := l.fs.Rename(path, spare); err != nil {
		return false
	}
	l.spares = append(l.spares, spare)
	return true
}

// freeSpareNameLocked returns a spare path no spare has.
func (l *Log) freeSpareNameLocked() string {
	for i := 0; ; i++ {
		name := spareName
		if i > 0 {
			name += "." + strconv.Itoa(i)
		}
		p := filepath.Join(l.opts.Dir, name)
		if !slices.Contains(l.spares, p) {
			return p
		}
	}
}

// trimSpares removes the spares beyond want, so that a log whose rate
// dropped gives their disk back; it returns the removal errors.
func (l *Log) trimSpares(want int) []error {
	l.spareMu.Lock()
	var extra []string
	if len(l.spares) > want {
		extra = slices.Clone(l.spares[want:])
		l.spares = l.spares[:want]
	}
	l.spareMu.Unlock()
	var errs []error
	for _, p := range extra {
		if err := l.fs.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errs
}
