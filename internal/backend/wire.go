package backend

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// wirePool sends write requests over keep-alive connections of its own,
// without net/http's Transport. The Transport gives every connection a
// reader and a writer goroutine and hands each request and answer between
// them and the caller over channels. With one P (the relay pinned to a
// core) each of those hand-offs waits its turn behind the request handlers,
// so a backend's round trip, which the next batch of its worker waits for,
// took several turns of the scheduler instead of one. Here the worker's own
// goroutine writes the request, head and bodies in one writev, and reads
// the answer.
//
// Only the write path uses it: its requests are all alike (POST, a body
// of known length, an answer with a small body), so what it must handle of
// HTTP/1.1 is small: keep-alive (a connection idle for 90 s is closed,
// whether or not a write comes), a connection the server closed while it
// was idle (sent again once on a new one), an answer sent before the body
// was read (InfluxDB's 413), interim 1xx answers, chunked answers, an
// answer bounded to maxAnswer bytes, TLS, and the context's deadline and
// cancellation. Reads, pings and schema changes keep net/http. fasthttp's
// client also works in the caller's goroutine, but it takes a body as one
// slice or a stream, so a batch of several records would be copied into
// one buffer first, and it is a large dependency for this much.
//
// Measured with make bench's scenarios, relay pinned to one core:
// 7-13% less CPU per line in large, and more lines/s in gzip and small
// (docs/performance.md, 2026-12-07 evening).
type wirePool struct {
	addr   string // host:port to dial
	https  bool
	tls    *tls.Config // nil: the system's roots
	dialer net.Dialer

	mu     sync.Mutex
	idle   []*wireConn // oldest first
	closed bool        // Client.Close: connections in use are closed when done
	// idleTimeout is wireIdleTimeout (tests shorten it); reaper closes
	// the connections idle that long even when no write comes to take
	// them, and is nil while none is idle.
	idleTimeout time.Duration
	reaper      *time.Timer
}

// maxIdleWire bounds the idle connections kept per backend: a worker sends
// one request at a time, so more than a few are never idle at once.
const maxIdleWire = 16

// wireIdleTimeout drops connections idle for longer; InfluxDB's server has
// no idle timeout of its own, but a proxy in between may.
const wireIdleTimeout = 90 * time.Second

type wireConn struct {
	conn   net.Conn
	budget budgetReader  // over sanitizingConn{conn}
	br     *bufio.Reader // over budget
	idleAt time.Time
}

// maxAnswer bounds the bytes read for one answer, headers and body (of
// which readBounded keeps 64 KB and drains 256 KB more): a server that
// sends endless headers costs a closed connection, not the relay's memory.
const maxAnswer = 1 << 20

// budgetReader reads at most n bytes, then fails.
type budgetReader struct {
	r io.Reader
	n int
}

var errAnswerTooLarge = errors.New("answer larger than 1 MB")

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errAnswerTooLarge
	}
	if len(p) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= n
	return n, err
}

func newWirePool(u *url.URL, tc *tls.Config) *wirePool {
	return &wirePool{addr: dialAddr(u), https: u.Scheme == "https", tls: tc,
		dialer:      net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
		idleTimeout: wireIdleTimeout}
}

// get returns an idle connection, or dials a new one; reused tells which.
func (p *wirePool) get(ctx context.Context) (wc *wireConn, reused bool, err error) {
	p.mu.Lock()
	for len(p.idle) > 0 {
		wc = p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		if time.Since(wc.idleAt) < p.idleTimeout {
			p.mu.Unlock()
			return wc, true, nil
		}
		wc.conn.Close()
	}
	p.mu.Unlock()
	var conn net.Conn
	if p.https {
		conn, err = dialTLS(ctx, &p.dialer, p.tls, p.addr)
	} else {
		conn, err = p.dialer.DialContext(ctx, "tcp", p.addr)
	}
	if err != nil {
		return nil, false, err
	}
	wc = &wireConn{conn: conn, budget: budgetReader{r: sanitizingConn{conn}}}
	wc.br = bufio.NewReaderSize(&wc.budget, 4096)
	return wc, false, nil
}

func (p *wirePool) put(wc *wireConn) {
	wc.idleAt = time.Now()
	p.mu.Lock()
	if !p.closed && len(p.idle) < maxIdleWire {
		p.idle = append(p.idle, wc)
		wc = nil
		if p.reaper == nil {
			p.reaper = time.AfterFunc(p.idleTimeout, p.reap)
		}
	}
	p.mu.Unlock()
	if wc != nil {
		wc.conn.Close()
	}
}

// reap closes the connections idle for idleTimeout or longer, and runs
// again when the oldest of the others will be.
func (p *wirePool) reap() {
	p.mu.Lock()
	now := time.Now()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].idleAt) >= p.idleTimeout {
		n++
	}
	old := slices.Clone(p.idle[:n])
	p.idle = slices.Delete(p.idle, 0, n)
	p.reaper = nil
	if len(p.idle) > 0 && !p.closed {
		p.reaper = time.AfterFunc(p.idleTimeout-now.Sub(p.idle[0].idleAt), p.reap)
	}
	p.mu.Unlock()
	for _, wc := range old {
		wc.conn.Close()
	}
}

func (p *wirePool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	if p.reaper != nil {
		p.reaper.Stop()
		p.reaper = nil
	}
	p.mu.Unlock()
	for _, wc := range idle {
		wc.conn.Close()
	}
}

// longAgo is a deadline in the past: it ends a blocked read or write at once.
var longAgo = time.Unix(1, 0)

// errStale marks a failure on a reused connection before any byte of an
// answer came back: the server had closed it while it was idle.
var errStale = errors.New("closed while idle")

// do sends one POST with the given head (request line and headers, ending
// in the blank line) and body parts, and returns the answer's status,
// headers and bounded body. A reused connection that turns out closed is
// replaced once: the request is sent again, which at-least-once delivery
// allows.
func (p *wirePool) do(ctx context.Context, head []byte, parts [][]byte) (status int, hdr http.Header, body []byte, cut bool, err error) {
	for try := 0; ; try++ {
		status, hdr, body, cut, err = p.once(ctx, head, parts)
		if !errors.Is(err, errStale) || try > 0 || ctx.Err() != nil {
			return status, hdr, body, cut, err
		}
	}
}

func (p *wirePool) once(ctx context.Context, head []byte, parts [][]byte) (status int, hdr http.Header, body []byte, cut bool, err error) {
	wc, reused, err := p.get(ctx)
	if err != nil {
		return 0, nil, nil, false, err
	}
	if dl, ok := ctx.Deadline(); ok {
		wc.conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { wc.conn.SetDeadline(longAgo) })
	keep := false
	defer func() {
		if !stop() || !keep {
			wc.conn.Close()
			return
		}
		wc.conn.SetDeadline(time.Time{})
		p.put(wc)
	}()

	bufs := make(net.Buffers, 0, len(parts)+1)
	bufs = append(bufs, head)
	bufs = append(bufs, parts...)
	_, werr := bufs.WriteTo(wc.conn)
	if werr != nil && (ctx.Err() != nil || isTimeout(werr)) {
		return 0, nil, nil, false, ctxErr(ctx, werr)
	}
	// After a failed write the answer is still read: a server that refuses
	// the body (InfluxDB's 413 past max-body-size) answers before it has
	// read it all and closes, and that answer is what counts.
	wc.budget.n = maxAnswer
	if werr == nil && wc.br.Buffered() == 0 {
		awaitAnswer(ctx, wc.conn)
	}
	resp, err := readAnswer(wc.br)
	if err != nil {
		if werr != nil {
			err = werr // says more than the read after it
		}
		if reused && ctx.Err() == nil && !isTimeout(err) && wc.budget.n == maxAnswer {
			// Not one byte came back.
			err = fmt.Errorf("%w: %w", errStale, err)
		}
		return 0, nil, nil, false, ctxErr(ctx, err)
	}
	body, cut, rerr := readBounded(resp.Body)
	if rerr != nil {
		if resp.StatusCode/100 != 2 {
			return 0, nil, nil, false, ctxErr(ctx, rerr)
		}
		// A 2xx said what matters; only the connection is lost.
		return resp.StatusCode, resp.Header, body, cut, nil
	}
	keep = werr == nil && !resp.Close && !cut
	return resp.StatusCode, resp.Header, body, cut, nil
}

// readAnswer reads the final answer to a request, past any interim 1xx
// answer (100 Continue) a server or proxy may send first.
func readAnswer(br *bufio.Reader) (*http.Response, error) {
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, err
		}
	}
}

// ctxErr reports a cancelled or expired request as the context's error,
// as net/http's client does, so that it is classified the same way.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// appendContentLength ends a request head with its body's length.
func appendContentLength(head []byte, n int64) []byte {
	head = append(head, "Content-Length: "...)
	head = strconv.AppendInt(head, n, 10)
	return append(head, "\r\n\r\n"...)
}

// dialAddr is the host:port a URL's server is reached at.
func dialAddr(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}
