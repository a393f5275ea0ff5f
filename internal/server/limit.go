package server

import (
	"net"
	"sync"
)

// limitListener lets at most cap(sem) connections be open at once and
// closes any beyond that as soon as it is accepted, without an answer,
// which is what InfluxDB's max-connection-limit does. It is written here
// rather than taken from golang.org/x/net/netutil.LimitListener because
// that one stops accepting at the limit: further clients then wait in the
// kernel's accept queue, unanswered, until their own timeouts fire, and a
// client cannot tell a full gateway from a hung one.
type limitListener struct {
	net.Listener
	sem     chan struct{}
	refused func() // called for each connection closed at the limit
}

func newLimitListener(ln net.Listener, n int, refused func()) net.Listener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), refused: refused}
}

// Accept returns the next connection within the limit.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
			// Counted before the close, so that anyone who sees the
			// connection closed also sees it counted.
			l.refused()
			c.Close()
		}
	}
}

// limitConn gives its slot back when it is closed (once, however often
// Close is called).
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
