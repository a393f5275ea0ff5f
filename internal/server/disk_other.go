//go:build !linux

package server

import "errors"

// diskSpace is only implemented on Linux, influxgate's supported platform.
func diskSpace(string) (free, size uint64, err error) {
	return 0, 0, errors.New("disk space: not supported on this platform")
}
