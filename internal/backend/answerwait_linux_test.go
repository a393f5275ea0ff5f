package backend

import (
	"context"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// whileBusy runs f while another goroutine keeps the P busy the way
// request handlers do: slices of CPU work of about 100 µs, with a yield
// between them, never blocking.
func whileBusy(f func()) {
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			deadline := time.Now().Add(100 * time.Microsecond)
			for time.Now().Before(deadline) {
			}
			runtime.Gosched()
		}
	}()
	f()
	stop.Store(true)
	<-done
}

func connPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// While other goroutines keep the one P busy, the worker sees its answer
// come in by looking for it itself; when nothing else runs, it leaves the
// wait to the network poller. Either way the answer is then read whole.
func TestAwaitAnswer(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	client, server := connPair(t)

	time.AfterFunc(5*time.Millisecond, func() { _, _ = server.Write([]byte("answer")) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a bug ends here, not in a hang
	defer cancel()
	var seen bool
	whileBusy(func() { seen = awaitAnswer(ctx, client) })
	if !seen {
		t.Error("with the P busy, the answer was left to the network poller")
	}
	buf := make([]byte, 16)
	if n, err := client.Read(buf); err != nil || string(buf[:n]) != "answer" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}

	// Nothing else runs: back at once, without having seen anything (the
	// context only turns a bug into a failure instead of a hang).
	idleCtx, idleCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer idleCancel()
	start := time.Now()
	if awaitAnswer(idleCtx, client) {
		t.Error("an idle P: reported an answer that never came")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("an idle P: awaitAnswer took %v", took)
	}
}

// A cancelled wait ends while the P is busy and no answer comes.
func TestAwaitAnswerEndsWithTheContext(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	client, _ := connPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var seen bool
	whileBusy(func() { seen = awaitAnswer(ctx, client) })
	if seen || ctx.Err() == nil {
		t.Errorf("awaitAnswer = %v before the context ended (%v)", seen, ctx.Err())
	}
}
