package backend

import (
	"context"
	"crypto/tls"
	"net"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// awaitAnswer returns once conn has something to read (the answer, or its
// end), looking for it itself while other goroutines keep the P busy.
//
// Why: a goroutine blocked in a read is woken by the runtime's network
// poller, and the scheduler consults the poller only when its run queues
// are empty, or from sysmon once 10 ms have passed. With the relay on one
// P, request handlers that inflate or scan large bodies keep the queues
// full, so a backend's answer sat in the socket for up to 10 ms, and the
// worker's next batch, and every verdict behind it, waited for it
// (docs/performance.md, execution traces). Here the worker yields its turn
// and peeks at the socket each time it is back: a turn comes after the
// goroutines queued before it ran a slice each. When yields come back at
// once, nothing else wants the P; the poller is then consulted as soon as
// the worker blocks, and the ordinary read takes over. It reports whether
// it saw the answer come in itself (for tests).
func awaitAnswer(ctx context.Context, conn net.Conn) (seen bool) {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var one [1]byte
	ready := false
	peek := func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), one[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		ready = err != unix.EAGAIN && err != unix.EINTR // data, the end, or an error the read will report
		return true
	}
	for quick := 0; ctx.Err() == nil; {
		start := time.Now()
		runtime.Gosched()
		if time.Since(start) < idleYield {
			// One quick yield is not enough: TestAwaitAnswer saw one
			// while the P was busy (presumably after a short goroutine,
			// its timer's, ran). A few in a row mean an idle P.
			if quick++; quick == idleYields {
				return false
			}
			continue
		}
		quick = 0
		if rc.Read(peek) != nil {
			return false
		}
		if ready {
			return true
		}
	}
	return false
}

// idleYield is how quickly a yield returns when no other goroutine was
// waiting for the P (under a microsecond here; a request handler's turn
// takes tens at least), and idleYields how many such yields in a row end
// the looking.
const (
	idleYield  = 5 * time.Microsecond
	idleYields = 3
)
