package wal

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A rotation into a new file (no spare: the log is growing) gives the pages
// of the sealed segment keepCached behind the tail back to the kernel; the
// newer ones stay cached, and a rotation into a spare drops nothing. Where
// the file system drops clean pages on request (not tmpfs), the dropped
// segment is then no longer in the page cache.
func TestSealedSegmentLeavesThePageCacheWhenTheLogGrows(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir, SegmentSize: 16 << 10, Sync: SyncAlways})
	before := cacheDrops.Load()
	appendN(t, l, 1, 1000)
	segs := l.Segments()
	if len(segs) < keepCached+3 {
		t.Fatalf("%d segments, want at least %d", len(segs), keepCached+3)
	}
	if got, want := cacheDrops.Load()-before, uint64(len(segs)-1-keepCached); got != want {
		t.Errorf("%d sealed segments' pages dropped, want %d (one per rotation into a new file, once %d are sealed)", got, want, keepCached)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type != unix.TMPFS_MAGIC {
		if n := residentPages(t, segs[1].Path); n != 0 {
			t.Errorf("sealed segment %s has %d pages in the page cache after the drop", segs[1].Path, n)
		}
		for _, s := range segs[len(segs)-1-keepCached:] {
			if n := residentPages(t, s.Path); n == 0 {
				t.Errorf("segment %s, among the tail and the newest %d sealed, has no page in the page cache", s.Path, keepCached)
			}
		}
	}

	// With spares the rotation starts in one and drops nothing.
	if err := l.TruncateFront(segs[4].FirstIndex); err != nil {
		t.Fatal(err)
	}
	before = cacheDrops.Load()
	next := uint64(1001)
	n := len(l.Segments())
	for len(l.Segments()) == n {
		appendN(t, l, next, 1)
		next++
	}
	if got := cacheDrops.Load() - before; got != 0 {
		t.Errorf("a rotation into a spare dropped %d segments' pages", got)
	}
}

// residentPages counts the pages of path in the page cache (mincore).
func residentPages(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	pg := os.Getpagesize()
	vec := make([]byte, (len(m)+pg-1)/pg)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatalf("mincore: %v", e)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}
