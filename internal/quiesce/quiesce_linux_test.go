package quiesce

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

func listen(t *testing.T) *net.TCPListener {
	t.Helper()
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// connectAndSend connects to ln and sends a request, as a balancer does
// as soon as its connect succeeds; the connection waits in the accept
// queue.
func connectAndSend(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	return c
}

func waitBacklog(t *testing.T, ln *net.TCPListener, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := Backlog(ln)
		if err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("accept queue holds %d connections, want %d", n, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// The premise: a plain close resets a connection whose request was sent.
func TestCloseResetsAQueuedConnection(t *testing.T) {
	ln := listen(t)
	c := connectAndSend(t, ln)
	waitBacklog(t, ln, 1)
	ln.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after close: %v, want connection reset", err)
	}
}

func TestQuiesceKeepsTheQueueAndRefusesNewConnections(t *testing.T) {
	ln := listen(t)
	queued := []net.Conn{connectAndSend(t, ln), connectAndSend(t, ln)}
	waitBacklog(t, ln, 2)

	if err := Quiesce(ln); err != nil {
		t.Fatal(err)
	}
	// A new connection request is dropped: the connect does not complete.
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), 300*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("a connect to a quiesced listener completed")
	}
	// The queued connections are accepted whole, and both ways work.
	for i, c := range queued {
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 5)
		sc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(sc, got); err != nil || string(got) != "ping\n" {
			t.Fatalf("connection %d: read %q, %v", i, got, err)
		}
		if _, err := sc.Write([]byte("pong\n")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "pong\n" {
			t.Fatalf("connection %d: client read %q, %v", i, got, err)
		}
		sc.Close()
	}
	waitBacklog(t, ln, 0)

	// Once closed, a connect is refused, which balancers retry elsewhere.
	addr := ln.Addr().String()
	ln.Close()
	_, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connect after close: %v, want connection refused", err)
	}
}
