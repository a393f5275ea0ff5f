package server

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimitListenerClosesConnectionsBeyondTheLimit(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	ln := newLimitListener(raw, 2, func() { refused.Add(1) })
	defer ln.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	first, second := <-accepted, <-accepted
	// The third is closed by the server without a byte.
	third := dial()
	_ = third.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := third.Read(make([]byte, 1)); n != 0 || !(errors.Is(err, io.EOF) || isReset(err)) {
		t.Fatalf("third connection: read %d, %v; want it closed", n, err)
	}
	if refused.Load() != 1 {
		t.Errorf("refused = %d, want 1", refused.Load())
	}
	// Closing one (twice: the slot is given back once) makes room for one.
	first.Close()
	first.Close()
	dial()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted after one was closed")
	}
	second.Close()
	dial()
	dial()
	<-accepted
	fourth := dial()
	_ = fourth.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := fourth.Read(make([]byte, 1)); err == nil {
		t.Error("a connection beyond the limit was kept")
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}
