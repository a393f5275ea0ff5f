//go:build !linux

package wal

import "os"

// datasync falls back to fsync where fdatasync is not available.
func datasync(f *os.File) error { return f.Sync() }

// fullsync is fsync(2).
func fullsync(f *os.File) error { return f.Sync() }
