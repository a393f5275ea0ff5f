package wal

import (
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// cacheDrops counts sealed segments whose cached pages were dropped (for
// tests).
var cacheDrops atomic.Uint64

// dropCache asks the kernel to drop f's cached pages (they are clean: the
// segment was synced when sealed). See dropBehind for when and why.
func dropCache(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		ferr = unix.Fadvise(int(fd), 0, 0, unix.FADV_DONTNEED)
	}); err != nil {
		return err
	}
	if ferr == nil {
		cacheDrops.Add(1)
	}
	return ferr
}
