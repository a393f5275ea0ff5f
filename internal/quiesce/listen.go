package quiesce

import (
	"context"
	"net"
)

// Listen opens a TCP listener that Quiesce and Backlog work on. Go listens
// with Multipath TCP where the kernel has it, and an MPTCP socket refuses
// socket filters (EOPNOTSUPP); Listen asks for plain TCP, which is what
// InfluxDB's clients speak anyway.
func Listen(addr string) (*net.TCPListener, error) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}
