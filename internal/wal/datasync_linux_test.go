package wal

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A sync goes through AIO (this machine's kernel has it) and many logs
// syncing at once each get their own syncer: every sync succeeds and each
// is counted as an AIO one.
func TestDatasyncThroughAIO(t *testing.T) {
	dir := t.TempDir()
	before := aioSyncs.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 8*20)
	for i := 0; i < 8; i++ {
		f, err := os.Create(filepath.Join(dir, string(rune('a'+i))))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if _, err := f.Write(make([]byte, 4096)); err != nil {
					errs <- err
					return
				}
				errs <- datasync(f)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if aioRefused.Load() {
		t.Fatal("the kernel refused AIO (io_setup failed); influxgate's log then syncs with plain fdatasync")
	}
	if n := aioSyncs.Load() - before; n != 8*20 {
		t.Errorf("%d syncs went through AIO, want %d", n, 8*20)
	}
}

// A sync the kernel cannot do reports its error as fdatasync would: a pipe
// has no fdatasync (EINVAL), whichever way it is asked.
func TestDatasyncReportsTheKernelsError(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	err = datasync(w)
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "fdatasync" || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("datasync of a pipe: %v, want fdatasync ... EINVAL", err)
	}
	// The syncer is still usable.
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := aioSyncs.Load()
	if err := datasync(f); err != nil {
		t.Fatal(err)
	}
	if aioSyncs.Load() != before+1 {
		t.Error("the sync after the failed one did not go through AIO")
	}
}

// Without AIO (io_setup refused) every sync is a plain fdatasync.
func TestDatasyncWithoutAIO(t *testing.T) {
	syncersMu.Lock()
	saved := syncers
	syncers = nil
	syncersMu.Unlock()
	setup := ioSetup
	ioSetup = func(*uintptr) syscall.Errno { return syscall.ENOSYS }
	defer func() {
		ioSetup = setup
		aioRefused.Store(false)
		syncersMu.Lock()
		syncers = saved
		syncersMu.Unlock()
	}()

	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := aioSyncs.Load()
	for i := 0; i < 3; i++ {
		if err := datasync(f); err != nil {
			t.Fatal(err)
		}
	}
	if !aioRefused.Load() || aioSyncs.Load() != before {
		t.Errorf("refused %v, %d AIO syncs; want refused and none", aioRefused.Load(), aioSyncs.Load()-before)
	}
}

// While a sync is in flight the syncing goroutine is parked in the
// network poller ("IO wait"), not in a system call that holds its P. The
// submission is faked so that the sync stays in flight until the test
// signals the eventfd itself; that completion has no event behind it, so
// the sync fails and its syncer is closed, not reused.
func TestSyncWaitsInThePoller(t *testing.T) {
	resfd := make(chan int, 1)
	submit := ioSubmit
	ioSubmit = func(_ uintptr, cb *iocb) syscall.Errno {
		resfd <- int(cb.resfd)
		return 0
	}
	defer func() { ioSubmit = submit }()

	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	done := make(chan error, 1)
	go func() { done <- datasync(f) }()
	efd := <-resfd

	flags, err := unix.FcntlInt(uintptr(efd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.O_NONBLOCK == 0 {
		t.Error("the eventfd is in blocking mode: its read holds the P")
	}
	var state string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if state = syncerState(); strings.HasPrefix(state, "IO wait") {
			break
		}
	}
	if !strings.HasPrefix(state, "IO wait") {
		t.Errorf("the syncing goroutine is in state %q, want IO wait (parked in the poller)", state)
	}

	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	if _, err := unix.Write(efd, one); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "completion signalled but not found") {
		t.Fatalf("sync with a completion but no event: %v", err)
	}
	syncersMu.Lock()
	defer syncersMu.Unlock()
	for _, s := range syncers {
		if int(s.efd.Fd()) == efd {
			t.Error("a syncer whose completion went missing was put back for reuse")
		}
	}
}

// syncerState is the state of the goroutine that waits in aioSyncer.sync
// ("IO wait", "syscall", ...), or "" while there is none.
func syncerState() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "(*aioSyncer).sync") {
			continue
		}
		head, _, _ := strings.Cut(g, "\n")
		// "goroutine 7 [IO wait]:" or "goroutine 7 [syscall, 2 minutes]:"
		if i := strings.IndexByte(head, '['); i >= 0 {
			return strings.TrimSuffix(head[i+1:], "]:")
		}
	}
	return ""
}

// fsync of a file and of a directory (the cursor file, WriteFileAtomic,
// directory entries) goes through AIO too, and its errors say fsync.
func TestFullsyncThroughAIO(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	before := aioSyncs.Load()
	if err := fullsync(f); err != nil {
		t.Fatal(err)
	}
	if err := syncDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "g"), []byte("y")); err != nil {
		t.Fatal(err)
	}
	// fullsync, syncDir, and WriteFileAtomic's file and directory.
	if n := aioSyncs.Load() - before; n != 4 {
		t.Errorf("%d syncs went through AIO, want 4", n)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var pe *os.PathError
	if err := fullsync(w); !errors.As(err, &pe) || pe.Op != "fsync" || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("fullsync of a pipe: %v, want fsync ... EINVAL", err)
	}
}
