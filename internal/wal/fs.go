package wal

import (
	"io"
	"os"
)

// The writer reaches the file system only through these interfaces so that
// tests can inject the failures a real disk produces (ENOSPC on write, EIO on
// fsync) at exact moments. Readers use os.Open directly: a read error there is
// reported to the caller and changes no state.

// segFile is the part of *os.File the writer uses.
type segFile interface {
	io.ReaderAt
	io.WriterAt
	Truncate(size int64) error
	Sync() error
	Close() error
	Stat() (os.FileInfo, error)
}

// fileSystem creates, opens and removes segment files.
type fileSystem interface {
	// Create creates a new file that must not exist yet, mode 0600.
	Create(path string) (segFile, error)
	// OpenRW opens an existing file for reading and writing.
	OpenRW(path string) (segFile, error)
	Remove(path string) error
	// SyncDir fsyncs a directory so that file creations and removals in it
	// survive a power loss.
	SyncDir(dir string) error
}

type osFS struct{}

func (osFS) Create(path string) (segFile, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

func (osFS) OpenRW(path string) (segFile, error) {
	return os.OpenFile(path, os.O_RDWR, 0)
}

func (osFS) Remove(path string) error { return os.Remove(path) }

func (osFS) SyncDir(dir string) error { return syncDir(dir) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
