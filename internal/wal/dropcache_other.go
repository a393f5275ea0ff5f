//go:build !linux

package wal

// dropCache is a no-op where posix_fadvise is not used.
func dropCache(segFile) error { return nil }
