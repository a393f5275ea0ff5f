package wal

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
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
