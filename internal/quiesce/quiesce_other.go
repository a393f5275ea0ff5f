//go:build !linux

package quiesce

import "net"

// Quiesce does nothing outside Linux: a close resets what is queued.
func Quiesce(ln *net.TCPListener) error { return nil }

// Backlog reports an empty queue outside Linux.
func Backlog(ln *net.TCPListener) (int, error) { return 0, nil }
