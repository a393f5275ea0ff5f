//go:build !linux

package wal

import "os"

// dropCache is a no-op where posix_fadvise is not used.
func dropCache(*os.File) error { return nil }
