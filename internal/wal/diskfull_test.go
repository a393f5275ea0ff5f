package wal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultFS is the real file system with failures switched on by the test.
type faultFS struct {
	osFS
	mu sync.Mutex
	// writeErr fails WriteAt calls after writing half of the bytes, like a
	// disk that fills up in the middle of a write.
	writeErr error
	syncErr  error
	truncErr int // fail this many Truncate calls
	create   error
	// syncGate, if set, blocks every Sync until it is closed.
	syncGate chan struct{}
	// removeErr, if set, fails the Remove of the files it names.
	removeErr map[string]error
}

func (fs *faultFS) Remove(path string) error {
	fs.mu.Lock()
	err := fs.removeErr[path]
	fs.mu.Unlock()
	if err != nil {
		return &os.PathError{Op: "remove", Path: path, Err: err}
	}
	return fs.osFS.Remove(path)
}

func (fs *faultFS) set(f func(*faultFS)) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f(fs)
}

func (fs *faultFS) Create(path string) (segFile, error) {
	fs.mu.Lock()
	err := fs.create
	fs.mu.Unlock()
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f, err := fs.osFS.Create(path)
	if err != nil {
		return nil, err
	}
	return &faultFile{segFile: f, fs: fs}, nil
}

func (fs *faultFS) OpenRW(path string) (segFile, error) {
	f, err := fs.osFS.OpenRW(path)
	if err != nil {
		return nil, err
	}
	return &faultFile{segFile: f, fs: fs}, nil
}

type faultFile struct {
	segFile
	fs *faultFS
}

func (f *faultFile) WriteAt(b []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	err := f.fs.writeErr
	f.fs.mu.Unlock()
	if err != nil {
		n, _ := f.segFile.WriteAt(b[:len(b)/2], off)
		return n, &os.PathError{Op: "write", Path: "segment", Err: err}
	}
	return f.segFile.WriteAt(b, off)
}

func (f *faultFile) Sync() error {
	f.fs.mu.Lock()
	err, gate := f.fs.syncErr, f.fs.syncGate
	f.fs.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if err != nil {
		return &os.PathError{Op: "sync", Path: "segment", Err: err}
	}
	return f.segFile.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	fail := f.fs.truncErr > 0
	if fail {
		f.fs.truncErr--
	}
	f.fs.mu.Unlock()
	if fail {
		return &os.PathError{Op: "truncate", Path: "segment", Err: syscall.EIO}
	}
	return f.segFile.Truncate(size)
}

// tailSize returns the size of the newest segment file.
func tailSize(t *testing.T, dir string) int64 {
	t.Helper()
	files := segFiles(t, dir)
	fi, err := os.Stat(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestInjectedWriteFailures(t *testing.T) {
	cases := []struct {
		name   string
		fail   func(*faultFS)
		causes []error // each failed Append wraps one of these
		rotate bool    // fail while rotating to a new segment
	}{
		{"ENOSPC mid-write", func(fs *faultFS) { fs.writeErr = syscall.ENOSPC }, []error{syscall.ENOSPC}, false},
		{"EIO on fsync", func(fs *faultFS) { fs.syncErr = syscall.EIO }, []error{syscall.EIO}, false},
		// The cut-back after the first failure fails, so does the one before
		// the second append (EIO); the third append cuts back and fails again.
		{"ENOSPC and cut-back fails twice", func(fs *faultFS) { fs.writeErr = syscall.ENOSPC; fs.truncErr = 2 },
			[]error{syscall.ENOSPC, syscall.EIO}, false},
		{"ENOSPC creating a segment", func(fs *faultFS) { fs.create = syscall.ENOSPC }, []error{syscall.ENOSPC}, true},
		{"ENOSPC writing a new segment", func(fs *faultFS) { fs.writeErr = syscall.ENOSPC }, []error{syscall.ENOSPC}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := &faultFS{}
			segSize := int64(1 << 20)
			if tc.rotate {
				segSize = 2 << 10
			}
			opts := Options{Dir: dir, SegmentSize: segSize, Sync: SyncAlways, fs: fs}
			l := openLog(t, opts)
			n := uint64(0)
			if tc.rotate {
				// Fill the tail so that the next append must rotate.
				for l.Stats().EndOffset+frameHeaderLen+int64(len(payload(n+1))) <= segSize {
					n++
					appendN(t, l, n, 1)
				}
			} else {
				n = 10
				appendN(t, l, 1, n)
			}
			reader, err := l.NewReader(1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := reader.Read(1 << 30); err != nil {
				t.Fatal(err)
			}
			size, segs := tailSize(t, dir), len(segFiles(t, dir))

			fs.set(tc.fail)
			for range 3 {
				idx, err := l.Append(payload(n + 1))
				wrapped := false
				for _, c := range tc.causes {
					wrapped = wrapped || errors.Is(err, c)
				}
				if !wrapped {
					t.Fatalf("Append during failure = %d, %v; want an error wrapping one of %v", idx, err, tc.causes)
				}
			}
			if l.LastIndex() != n {
				t.Fatalf("LastIndex %d after failed appends, want %d", l.LastIndex(), n)
			}
			if got := tailSize(t, dir); got != size {
				t.Fatalf("tail segment is %d bytes after failed appends, was %d", got, size)
			}
			if got := len(segFiles(t, dir)); got != segs {
				t.Fatalf("%d segment files after failed rotation, was %d", got, segs)
			}
			if ents, err := reader.Read(1 << 30); err != nil || len(ents) != 0 {
				t.Fatalf("reader sees %d records of failed appends (%v)", len(ents), err)
			}

			fs.set(func(fs *faultFS) { // space freed
				fs.writeErr, fs.syncErr, fs.truncErr, fs.create = nil, nil, 0, nil
			})
			appendN(t, l, n+1, 20)
			ents, err := reader.Read(1 << 30)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				e.Data = bytes.Clone(e.Data)
			}
			checkRecords(t, ents, span(n+1, n+20))
			if st := l.Stats(); st.AppendErrors != 3 {
				t.Fatalf("Stats.AppendErrors %d, want 3", st.AppendErrors)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			// Nothing of the failed groups is on disk.
			opts.fs = nil
			l2 := openLog(t, opts)
			if rep := l2.OpenReport(); rep.TornBytes != 0 || rep.CorruptRecords != 0 || rep.LastIndex != n+20 {
				t.Fatalf("reopen report %+v", rep)
			}
			all, gaps := readAll(t, l2, 1, 1<<20)
			checkRecords(t, all, span(1, n+20))
			if len(gaps) != 0 {
				t.Fatalf("gaps %v", gaps)
			}
		})
	}
}

func TestRecordsVisibleOnlyWhenDurable(t *testing.T) {
	fs := &faultFS{}
	l := openLog(t, Options{Dir: t.TempDir(), Sync: SyncAlways, fs: fs})
	appendN(t, l, 1, 1)
	r, err := l.NewReader(2)
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	var release sync.Once
	openGate := func() { release.Do(func() { close(gate) }) }
	t.Cleanup(openGate) // runs before the log's Close, even if the test fails
	fs.set(func(fs *faultFS) { fs.syncGate = gate })
	done := make(chan error, 1)
	go func() {
		_, err := l.Append(payload(2))
		done <- err
	}()
	// Once the group is written its fsync blocks; wait until then.
	written := int64(segHeaderLen + 2*frameHeaderLen + len(payload(1)) + len(payload(2)))
	for tailSize(t, l.opts.Dir) < written {
		select {
		case err := <-done:
			t.Fatalf("Append returned before its fsync: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	if ents, err := r.Read(1 << 20); err != nil || len(ents) != 0 || l.LastIndex() != 1 {
		t.Fatalf("record visible before its fsync finished: %d entries, LastIndex %d, %v", len(ents), l.LastIndex(), err)
	}
	openGate()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ents, err := r.Read(1 << 20)
	if err != nil || len(ents) != 1 || ents[0].Index != 2 {
		t.Fatalf("after fsync: %d entries, %v", len(ents), err)
	}
}

// TestDiskFullTmpfs fills a real, size-limited file system. It needs root
// (to mount tmpfs) and skips otherwise.
func TestDiskFullTmpfs(t *testing.T) {
	mnt := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); TestInjectedWriteFailures covers ENOSPC", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v (a file is still open)", mnt, err)
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH) // do not leak the mount
		}
	})
	dir := filepath.Join(mnt, "wal")
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 300<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := Options{Dir: dir, SegmentSize: 128 << 10, Sync: SyncAlways}
	l := openLog(t, opts)
	big := func(i uint64) []byte { return bytes.Repeat([]byte{byte(i)}, 20<<10+int(i)) }
	var n uint64
	var appendErr error
	for n < 1000 {
		idx, err := l.Append(big(n + 1))
		if err != nil {
			appendErr = err
			break
		}
		n = idx
	}
	if !errors.Is(appendErr, syscall.ENOSPC) {
		t.Fatalf("appending until the disk is full ended with %v, want ENOSPC", appendErr)
	}
	if l.LastIndex() != n {
		t.Fatalf("LastIndex %d, want %d", l.LastIndex(), n)
	}
	if _, err := l.Append(big(n + 1)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("second append on a full disk: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := n + 1; i <= n+5; i++ {
		idx, err := l.Append(big(i))
		if err != nil || idx != i {
			t.Fatalf("append after freeing space = %d, %v; want %d", idx, err, i)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, opts)
	if rep := l.OpenReport(); rep.TornBytes != 0 || rep.CorruptRecords != 0 || rep.LastIndex != n+5 {
		t.Fatalf("reopen report %+v", rep)
	}
	r, err := l.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close() // before the unmount
	for i := uint64(1); i <= n+5; i++ {
		ents, err := r.Read(1)
		if err != nil || len(ents) != 1 || ents[0].Index != i || !bytes.Equal(ents[0].Data, big(i)) {
			t.Fatalf("record %d: %d entries, %v", i, len(ents), err)
		}
	}
	if g := r.Gaps(); len(g) != 0 {
		t.Fatalf("gaps %v", g)
	}
}
