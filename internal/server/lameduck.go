package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxgate/influxgate/internal/quiesce"
)

// The lame-duck phase of a shutdown (shutdown-delay): before a listener
// stops accepting, it tells load balancers and clients to go elsewhere
// while it still serves everything, so that a rolling restart fails no
// request. Two signals do that:
//
//   - /health answers 503 (in InfluxDB's health shape), so that balancers
//     that check it (HAProxy, Kubernetes readiness, keepalived scripts)
//     stop choosing the node;
//   - every response carries Connection: close and the connection closes
//     after it, so that clients and balancers open their next connection
//     elsewhere. This is the only race-free way to end a keep-alive
//     connection: a server that closes an idle one may cross a request the
//     client is sending on it, which the client then sees fail with EOF or
//     a reset (a POST is not retried by clients, nor by a balancer in TCP
//     mode or a Kubernetes Service). Go's SetKeepAlivesEnabled(false) is
//     not used for that reason: besides Connection: close, it closes every
//     idle connection at once, and under load many connections are idle
//     for a moment between two requests.
//
// Connections still idle when the delay ends (a client that sent nothing
// for the whole delay) are closed by the shutdown that follows; by then
// balancers that check /health have stopped sending new requests to the
// node, so only a client that held an idle connection for the whole delay
// and uses it at that very moment can still meet the race.

// LameDuck begins the lame-duck phase on every listener and returns when
// shutdown-delay has passed or ctx is done, whichever comes first (a
// second signal cuts the delay short). Everything keeps being served
// until Run's context is done. With shutdown-delay = 0 it returns at once
// and changes nothing.
func (s *Server) LameDuck(ctx context.Context) {
	s.mu.Lock()
	delay := s.cfg.ShutdownDelay
	if delay <= 0 {
		s.mu.Unlock()
		return
	}
	s.lameDuck.Store(true)
	for _, l := range s.listeners {
		l.lameDuck.Store(true)
	}
	s.mu.Unlock()
	s.logger.Info("lame duck: /health answers 503 and every response closes its connection; serving goes on until shutdown-delay has passed",
		"shutdown_delay", delay)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		s.logger.Info("lame duck over: shutting down")
	case <-ctx.Done():
		s.logger.Info("lame duck cut short: shutting down")
	}
}

// retiring is a set of listeners removed by a reload, serving out their
// lame-duck delay before they close.
type retiring struct {
	ls   []*listener
	cut  context.CancelFunc // ends the delay early
	done chan struct{}      // closed once every listener is closed
}

// retire closes listeners removed by a reload after a lame-duck delay,
// in the background so that the reload returns at once; s.mu is held.
// Run's shutdown and a reload that needs their name or address cut the
// delay short (settleRetiring).
func (s *Server) retire(ls []*listener, delay, timeout time.Duration) {
	if len(ls) == 0 {
		return
	}
	ctx, cut := context.WithCancel(context.Background())
	r := &retiring{ls: ls, cut: cut, done: make(chan struct{})}
	for _, l := range ls {
		l.lameDuck.Store(true)
	}
	s.retiring = append(s.retiring, r)
	go func() {
		defer close(r.done)
		defer cut()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		cctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		s.closeListeners(cctx, ls)
	}()
}

// settleRetiring cuts short the delay of the retiring listeners for which
// match is true (all of them when match is nil) and waits until they are
// closed; s.mu is held. The closing goroutines never take s.mu.
func (s *Server) settleRetiring(match func(*listener) bool) {
	kept := s.retiring[:0]
	var wait []*retiring
	for _, r := range s.retiring {
		hit := match == nil
		for _, l := range r.ls {
			hit = hit || match(l)
		}
		select {
		case <-r.done:
			continue // closed already; forget it
		default:
		}
		if hit {
			r.cut()
			wait = append(wait, r)
			continue
		}
		kept = append(kept, r)
	}
	s.retiring = kept
	for _, r := range wait {
		<-r.done
	}
}

// newConnGrace bounds how long stopAccepting waits for connections that
// have not reached the handler with their request yet.
const newConnGrace = 2 * time.Second

// handshakeGrace is how long stopAccepting keeps accepting after it has
// quiesced the socket, so that handshakes under way at that moment (a
// client's ACK is one round trip away) reach the accept queue and are
// served rather than reset.
const handshakeGrace = 200 * time.Millisecond

// stopAccepting closes the listener's socket without failing a request
// that has reached it, and waits (up to newConnGrace, or until ctx is
// done) until every such request has reached the handler, which answers
// it with Connection: close; http.Server.Shutdown then finishes what is
// in flight.
//
// Two things lose a request that has arrived, and a balancer without
// health checks (open-source nginx) sends new connections until the node
// refuses them, so there always are such requests when a node stops:
//
//   - closing the socket resets the connections in its accept queue,
//     which the clients consider open and may have sent a POST on
//     (package quiesce). So the socket first stops taking new
//     connections and Serve accepts the queue empty; only then it
//     closes;
//   - from the moment Shutdown begins, net/http drops a request it has
//     read and not yet handed to the handler, closing the connection
//     without an answer. So Shutdown waits until none is left.
func (l *listener) stopAccepting(ctx context.Context, logger *slog.Logger) {
	l.lameDuck.Store(true)
	ctx, cancel := context.WithTimeout(ctx, newConnGrace)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	wait := func(done func() bool) {
		for !done() {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}
	if l.sock != nil && l.served != nil {
		if err := quiesce.Quiesce(l.sock); err != nil {
			logger.Warn("cannot stop new connections before closing: a connection that arrives as the listener closes may be reset",
				"listener", l.name, "err", err)
		} else {
			quiet := time.Now()
			wait(func() bool {
				n, err := quiesce.Backlog(l.sock)
				return err != nil || (n == 0 && time.Since(quiet) >= handshakeGrace)
			})
		}
	}
	l.closing.Store(true)
	l.ln.Close()
	if l.served != nil {
		// Once Serve has returned, every connection it accepted is known
		// to conns.
		select {
		case <-l.served:
		case <-ctx.Done():
			return
		}
	}
	wait(func() bool { return l.conns.waiting() == 0 })
}

// connStates follows a listener's connections through net/http's
// ConnContext and ConnState hooks and the handler, so that a shutdown
// can tell the connections whose request has not reached the handler.
type connStates struct {
	conns sync.Map // net.Conn → *connInfo
}

type connInfo struct {
	state atomic.Int32 // http.ConnState
	// handled is set when the connection's current request has reached
	// the handler; net/http marks a connection active as soon as it has
	// read a request, before the handler runs.
	handled atomic.Bool
}

type connInfoKey struct{}

// context is the http.Server's ConnContext: a new connection.
func (c *connStates) context(ctx context.Context, conn net.Conn) context.Context {
	info := &connInfo{}
	info.state.Store(int32(http.StateNew))
	c.conns.Store(conn, info)
	return context.WithValue(ctx, connInfoKey{}, info)
}

// track is the http.Server's ConnState.
func (c *connStates) track(conn net.Conn, st http.ConnState) {
	v, ok := c.conns.Load(conn)
	if !ok {
		return
	}
	info := v.(*connInfo)
	switch st {
	case http.StateClosed, http.StateHijacked:
		c.conns.Delete(conn)
	case http.StateActive:
		info.handled.Store(false)
		info.state.Store(int32(st))
	default:
		info.state.Store(int32(st))
	}
}

// handling marks the request's connection as having reached the handler.
func handling(r *http.Request) {
	if info, ok := r.Context().Value(connInfoKey{}).(*connInfo); ok {
		info.handled.Store(true)
	}
}

// waiting counts the connections that are new, or hold a request that
// has not reached the handler.
func (c *connStates) waiting() int {
	n := 0
	c.conns.Range(func(_, v any) bool {
		info := v.(*connInfo)
		switch http.ConnState(info.state.Load()) {
		case http.StateNew:
			n++
		case http.StateActive:
			if !info.handled.Load() {
				n++
			}
		}
		return true
	})
	return n
}
