//go:build !linux

package udp

import "net"

// readBuffer is only known on Linux, where the kernel silently caps it.
func readBuffer(*net.UDPConn) (int, bool) { return 0, false }
