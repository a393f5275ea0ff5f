package wal

import (
	"errors"
	"os"
	"path/filepath"
)

// Segment recycling. A group commit that makes its file grow makes ext4
// journal the new size, so its fdatasync commits metadata as well as the
// data; a group written over blocks the file already has does not.
// Measured on the development VM (docs/performance.md): write + fdatasync
// of a 1.4 MB group 1.81 ms when the file grows, 1.18 ms over written
// blocks; 64 KB groups 300 and 192 µs. So TruncateFront keeps one deleted
// segment as a spare (spareName) instead of removing it, and rotate starts
// the next segment in it: a new header over the old one, the file left at
// its old length.
//
// What follows the data in a reused file is the older segment's frames,
// all with indexes below the new base. Nothing reads them: readers stop
// at a segment's size, which the writer keeps; Open's scan of the tail
// takes no frame whose index is not past the last one it found, sees
// such older frames as the end of the data and cuts them off quietly; and
// rotate cuts a reused segment back to its data before it seals it, since
// Open sizes sealed segments by their files. A crash between the rename
// and a durable header leaves a file whose header does not match its
// name, which Open repairs as any damaged tail header. The spare costs one
// segment of disk per log.

// reuseSpare renames the spare to path and writes h over its header. It
// returns nil when there is no spare or it could not be reused (the spare
// is then removed, and the caller creates the segment as usual).
func (l *Log) reuseSpare(path string, h segHeader) (segFile, bool) {
	l.spareMu.Lock()
	defer l.spareMu.Unlock()
	spare := l.spare
	if spare == "" {
		return nil, false
	}
	l.spare = ""
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

// keepSpare makes the deleted segment at path the spare if there is none
// and it is worth keeping (at least half a segment: a small one would
// make the next segment grow all the same). It reports whether it did;
// otherwise the caller removes the file.
func (l *Log) keepSpare(path string, size int64) bool {
	if size < l.opts.SegmentSize/2 {
		return false
	}
	l.spareMu.Lock()
	defer l.spareMu.Unlock()
	if l.spare != "" {
		return false
	}
	spare := filepath.Join(l.opts.Dir, spareName)
	if err := l.fs.Rename(path, spare); err != nil {
		return false
	}
	l.spare = spare
	return true
}
