package backend

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
)

// rawBackend is a fault-injecting fake backend: for each request it reads,
// it calls answer with the connection, which writes whatever bytes the
// test needs (or nothing) and says whether to keep the connection open for
// another request. It counts connections and requests.
type rawBackend struct {
	ln       net.Listener
	conns    atomic.Int64
	requests atomic.Int64
	ended    atomic.Int64 // connections the client closed or the answer ended
}

func newRawBackend(t *testing.T, answer func(conn net.Conn, n int64) (keep bool)) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rb := &rawBackend{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			rb.conns.Add(1)
			go func() {
				defer rb.ended.Add(1)
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if !answer(conn, rb.requests.Add(1)) {
						return
					}
				}
			}()
		}
	}()
	return rb
}

func (rb *rawBackend) client(t *testing.T, timeout time.Duration) *Client {
	t.Helper()
	c, err := New(config.OutputConfig{Name: "raw", Location: config.Location("http://" + rb.ln.Addr().String() + "/write"), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func oneLine() *Batch { return &Batch{DB: "db", Bodies: [][]byte{[]byte("m v=1 1\n")}} }

const noContent = "HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.8.10\r\n\r\n"

// A server (or a proxy in between) may close a keep-alive connection while
// it is idle. The next write finds it closed before any answer came back
// and is sent again on a new connection instead of failing: a failure
// would make the worker back off and report the backend as failing.
func TestWireReplacesAConnectionClosedWhileIdle(t *testing.T) {
	rb := newRawBackend(t, func(conn net.Conn, _ int64) bool {
		_, _ = io.WriteString(conn, noContent) // keep-alive, then closed
		return false
	})
	c := rb.client(t, 5*time.Second)
	for i := 0; i < 3; i++ {
		if res := c.Write(context.Background(), oneLine()); res.Class != Accepted {
			t.Fatalf("write %d: %v %s", i, res.Class, res.Message())
		}
		time.Sleep(50 * time.Millisecond) // the close reaches the client
	}
	if n := rb.requests.Load(); n != 3 {
		t.Errorf("server answered %d requests, want 3", n)
	}
	if n := rb.conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

// A connection idle for the idle limit is closed even when no write comes
// to take it: a backend that gets no writes does not keep sockets open
// that a proxy in between may have dropped. The next write dials anew.
func TestWireClosesIdleConnectionsWithoutAWrite(t *testing.T) {
	rb := newRawBackend(t, func(conn net.Conn, _ int64) bool {
		_, _ = io.WriteString(conn, noContent)
		return true
	})
	c := rb.client(t, 5*time.Second)
	c.wire.idleTimeout = 100 * time.Millisecond
	for i := 1; i <= 2; i++ {
		if res := c.Write(context.Background(), oneLine()); res.Class != Accepted {
			t.Fatalf("write %d: %v %s", i, res.Class, res.Message())
		}
		deadline := time.Now().Add(5 * time.Second)
		for rb.ended.Load() < int64(i) {
			if time.Now().After(deadline) {
				t.Fatalf("after write %d the idle connection is still open 5 s later, with an idle limit of %v", i, c.wire.idleTimeout)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if n := rb.conns.Load(); n != int64(i) {
			t.Fatalf("%d connections after write %d, want %d", n, i, i)
		}
	}
	c.wire.mu.Lock()
	idle, reaper := len(c.wire.idle), c.wire.reaper
	c.wire.mu.Unlock()
	if idle != 0 || reaper != nil {
		t.Errorf("after the reaping: %d idle connections, timer set %v; want none", idle, reaper != nil)
	}
}

// The reaper closes each idle connection when its own idle time is up, not
// all of them when the first one's is.
func TestWireReaperFollowsEachConnectionsIdleTime(t *testing.T) {
	p := &wirePool{idleTimeout: 400 * time.Millisecond}
	closedAt := make([]chan time.Time, 2)
	start := time.Now()
	for i := range closedAt {
		client, server := net.Pipe()
		closedAt[i] = make(chan time.Time, 1)
		go func() {
			_, _ = server.Read(make([]byte, 1)) // returns when client is closed
			closedAt[i] <- time.Now()
		}()
		p.put(&wireConn{conn: client})
		if i == 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Each closes no earlier than its idle time is up. A reaper that
	// waited a full idle time again after the first close would close
	// the second 400 ms after the first instead of 200 ms (timers that
	// fire late on a busy machine move both).
	var at [2]time.Time
	for i, want := range []time.Duration{400 * time.Millisecond, 600 * time.Millisecond} {
		select {
		case at[i] = <-closedAt[i]:
			if got := at[i].Sub(start); got < want {
				t.Errorf("connection %d closed %v after the first went idle, before its %v", i, got.Round(time.Millisecond), want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("connection %d not closed within 5 s", i)
		}
	}
	if gap := at[1].Sub(at[0]); gap > 300*time.Millisecond {
		t.Errorf("the second connection closed %v after the first, want about 200 ms", gap.Round(time.Millisecond))
	}
}

// A backend that takes the request and never answers is a timeout after
// the output's timeout, and its connection is not used again.
func TestWireTimesOutASilentBackend(t *testing.T) {
	rb := newRawBackend(t, func(conn net.Conn, n int64) bool {
		if n == 1 {
			time.Sleep(2 * time.Second)
			return false
		}
		_, _ = io.WriteString(conn, noContent)
		return true
	})
	c := rb.client(t, 200*time.Millisecond)
	start := time.Now()
	res := c.Write(context.Background(), oneLine())
	if took := time.Since(start); res.Class != Transient || res.Reason != "timeout" || took > time.Second {
		t.Fatalf("silent backend: %v %q after %v (%s), want a timeout after 200ms", res.Class, res.Reason, took, res.Message())
	}
	if res := c.Write(context.Background(), oneLine()); res.Class != Accepted {
		t.Fatalf("next write: %v %s", res.Class, res.Message())
	}
	if n := rb.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the timed-out one must not be reused", n)
	}
}

// Cancelling the caller's context (the relay stopping) ends a write that
// waits for its answer at once.
func TestWireCancelEndsTheWait(t *testing.T) {
	rb := newRawBackend(t, func(net.Conn, int64) bool { time.Sleep(3 * time.Second); return false })
	c := rb.client(t, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	res := c.Write(ctx, oneLine())
	if took := time.Since(start); res.Class != Transient || took > time.Second {
		t.Fatalf("cancelled write: %v after %v (%s)", res.Class, took, res.Message())
	}
}

// A server that sends headers without end costs a failed request and a
// closed connection, not the relay's memory.
func TestWireBoundsTheAnswer(t *testing.T) {
	rb := newRawBackend(t, func(conn net.Conn, _ int64) bool {
		_, _ = io.WriteString(conn, "HTTP/1.1 204 No Content\r\n")
		pad := "X-Pad: " + strings.Repeat("a", 1000) + "\r\n"
		for i := 0; i < 4000; i++ { // 4 MB of headers
			if _, err := io.WriteString(conn, pad); err != nil {
				break
			}
		}
		return false
	})
	c := rb.client(t, 5*time.Second)
	res := c.Write(context.Background(), oneLine())
	if res.Class != Transient || !strings.Contains(res.Message(), "answer larger than 1 MB") {
		t.Fatalf("endless headers: %v %q, want a transient failure naming the bound", res.Class, res.Message())
	}
}

// An interim 100 Continue is skipped, and an answer with Connection: close
// closes the connection; the next write dials again.
func TestWireInterimAnswerAndConnectionClose(t *testing.T) {
	rb := newRawBackend(t, func(conn net.Conn, _ int64) bool {
		_, _ = io.WriteString(conn, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
		return false
	})
	c := rb.client(t, 5*time.Second)
	for i := 0; i < 2; i++ {
		if res := c.Write(context.Background(), oneLine()); res.Class != Accepted || res.Status != 204 {
			t.Fatalf("write %d: %v %d %s", i, res.Class, res.Status, res.Message())
		}
	}
	if n := rb.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// Writes reach an https backend, and a chunked error answer is read whole.
func TestWireTLSAndChunkedAnswer(t *testing.T) {
	var bodies atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies.Store(string(b))
		if r.URL.Query().Get("db") == "bad" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"partial write:`)
			w.(http.Flusher).Flush() // chunked from here on
			_, _ = io.WriteString(w, ` field type conflict"}`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c, err := New(config.OutputConfig{Name: "tls", Location: config.Location(srv.URL + "/write"), SkipTLSVerification: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if res := c.Write(context.Background(), oneLine()); res.Class != Accepted {
		t.Fatalf("https write: %v %s", res.Class, res.Message())
	}
	if got := bodies.Load(); got != "m v=1 1\n" {
		t.Errorf("server got %q", got)
	}
	res := c.Write(context.Background(), &Batch{DB: "bad", Bodies: [][]byte{[]byte("m v=1 1")}})
	if res.Class != Rejected || res.Reason != "type_conflict" || res.Message() != "partial write: field type conflict" {
		t.Errorf("chunked 400: %v %q %q", res.Class, res.Reason, res.Message())
	}
}

// A failed request names the backend's URL as net/http's client did, with
// neither the query nor the credentials of the location.
func TestWireErrorNamesTheURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, err := New(config.OutputConfig{Name: "gone", Location: config.Location("http://svc:secret@" + addr + "/write"), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res := c.Write(context.Background(), &Batch{DB: "db", Bodies: [][]byte{[]byte("m v=1 1\n")}})
	want := `Post "http://` + addr + `/write": dial tcp ` + addr + `: connect: connection refused`
	if res.Class != Transient || res.Reason != "connection" || res.Message() != want {
		t.Errorf("got %v %q %q\nwant message %q", res.Class, res.Reason, res.Message(), want)
	}
}

// A server that refuses a body past its size limit answers 413 before it
// has read the body, and closes: the write to it fails, and the 413 that
// came back is the answer (the worker then splits the record).
func TestWireReadsAnAnswerSentBeforeTheBodyWasRead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				if _, err := http.ReadRequest(br); err != nil { // the head only
					return
				}
				body := `{"error":"Request Entity Too Large"}`
				_, _ = io.WriteString(conn, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: application/json\r\nConnection: close\r\n"+
					"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
			}()
		}
	}()
	c, err := New(config.OutputConfig{Name: "limit", Location: config.Location("http://" + ln.Addr().String() + "/write"), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := []byte(strings.Repeat("m v=1 1\n", 4<<20)) // 32 MB: more than the socket buffers take
	res := c.Write(context.Background(), &Batch{DB: "db", Bodies: [][]byte{big}})
	if res.Class != TooLarge || res.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %v %d %q, want the 413", res.Class, res.Status, res.Message())
	}
}

// An https backend without ca-file or skip-tls-verification is reached
// over TLS and verified against the system's roots: a test server's
// certificate is not among them, so the write fails on the certificate
// rather than going out in plain text.
func TestWireHTTPSWithoutTLSSettingsVerifies(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c, err := New(config.OutputConfig{Name: "tls", Location: config.Location(srv.URL + "/write"), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res := c.Write(context.Background(), oneLine())
	if res.Class != Transient || !strings.Contains(res.Message(), "certificate") || got.Load() != 0 {
		t.Fatalf("got %v %q, %d requests served; want a certificate failure and none served", res.Class, res.Message(), got.Load())
	}
}
