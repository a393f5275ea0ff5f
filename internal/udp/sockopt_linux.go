package udp

import (
	"net"
	"syscall"
)

// readBuffer returns the receive buffer the kernel granted. Linux reports
// twice the size asked for (half is its bookkeeping) and silently caps the
// request at net.core.rmem_max, so half the reported value is what can be
// compared with read-buffer.
func readBuffer(conn *net.UDPConn) (int, bool) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, false
	}
	var size int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		size, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil || serr != nil {
		return 0, false
	}
	return size / 2, true
}
