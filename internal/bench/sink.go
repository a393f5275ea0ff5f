package bench

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxgate/influxgate/internal/lineproto"
)

// SinkOptions set how a sink misbehaves.
type SinkOptions struct {
	// Delay is added to every write before it is answered (a slow backend).
	Delay time.Duration
	// FailRate is the share of writes (0..1) answered 503 without counting
	// their lines.
	FailRate float64
	// Down starts the sink with its port closed: connections are refused.
	Down bool
	// UpAfter, with Down, opens the port after this long.
	UpAfter time.Duration
}

// SinkStats counts what a sink received. Lines counts the points of every
// write it answered 204.
type SinkStats struct {
	Requests int64 `json:"requests"`
	Lines    int64 `json:"lines"`
	Bytes    int64 `json:"bytes"`  // uncompressed body bytes of accepted writes
	Failed   int64 `json:"failed"` // writes answered 503 (FailRate)
}

// Sink is a fast InfluxDB-like write endpoint on 127.0.0.1 that counts the
// lines it receives and discards them.
type Sink struct {
	addr string
	opts SinkOptions

	requests, lines, bytes, failed atomic.Int64
	reqID                          atomic.Uint64

	mu     sync.Mutex
	srv    *http.Server // nil while down
	closed bool
	timer  *time.Timer
	served sync.WaitGroup
}

// StartSink starts a sink on addr ("127.0.0.1:0" picks a free port).
func StartSink(addr string, opts SinkOptions) (*Sink, error) {
	s := &Sink{opts: opts}
	if opts.Down {
		// Reserve an address now so the relay can be configured with it;
		// connecting to the closed port is refused until Up.
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		s.addr = l.Addr().String()
		l.Close()
		if opts.UpAfter > 0 {
			s.timer = time.AfterFunc(opts.UpAfter, func() { _ = s.Up() })
		}
		return s, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.addr = l.Addr().String()
	s.serve(l)
	return s, nil
}

// Addr is the sink's host:port.
func (s *Sink) Addr() string { return s.addr }

// URL is the sink's 1.x write URL.
func (s *Sink) URL() string { return "http://" + s.addr + "/write" }

// Stats returns what the sink has counted so far.
func (s *Sink) Stats() SinkStats {
	return SinkStats{Requests: s.requests.Load(), Lines: s.lines.Load(), Bytes: s.bytes.Load(), Failed: s.failed.Load()}
}

// Reset zeroes the counters.
func (s *Sink) Reset() {
	s.requests.Store(0)
	s.lines.Store(0)
	s.bytes.Store(0)
	s.failed.Store(0)
}

func (s *Sink) serve(l net.Listener) {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	s.srv = srv
	s.served.Add(1)
	go func() {
		defer s.served.Done()
		_ = srv.Serve(l) // returns when the server is closed
	}()
}

// Down closes the sink's port and every open connection, as a crashed
// server would.
func (s *Sink) Down() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	s.srv = nil
	return err
}

// Up opens the sink's port again, on the same address.
func (s *Sink) Up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("sink closed")
	}
	if s.srv != nil {
		return nil
	}
	var l net.Listener
	var err error
	// Someone may hold the port for a moment (a client's ephemeral port
	// cannot be in this sink's range, but another test's listener could).
	for range 50 {
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("sink up on %s: %w", s.addr, err)
	}
	s.serve(l)
	return nil
}

// Close stops the sink for good.
func (s *Sink) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	var err error
	if s.srv != nil {
		err = s.srv.Close()
		s.srv = nil
	}
	s.mu.Unlock()
	s.served.Wait()
	return err
}

var (
	bufPool  = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	gzipPool sync.Pool // *gzip.Reader
)

// ServeHTTP answers /write and /api/v2/write like InfluxDB, /ping with 204,
// /query with an empty result, and /bench/stats with the counters as JSON
// (used when the sink runs as its own process).
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["X-Influxdb-Build"] = []string{"OSS"}
	h["X-Influxdb-Version"] = []string{"1.6.7"}
	id := strconv.FormatUint(s.reqID.Add(1), 16)
	h["Request-Id"] = []string{id}
	h["X-Request-Id"] = []string{id}
	switch r.URL.Path {
	case "/write", "/api/v2/write":
		s.write(w, r)
	case "/ping":
		w.WriteHeader(http.StatusNoContent)
	case "/query":
		_, _ = io.WriteString(w, `{"results":[{"statement_id":0}]}`+"\n")
	case "/bench/stats":
		_ = json.NewEncoder(w).Encode(s.Stats())
	default:
		http.NotFound(w, r)
	}
}

func (s *Sink) write(w http.ResponseWriter, r *http.Request) {
	if s.opts.Delay > 0 {
		time.Sleep(s.opts.Delay)
	}
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	buf.Reset()
	if err := readBody(buf, r); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "{\"error\":%q}\n", err.Error())
		return
	}
	if s.opts.FailRate > 0 && rand.Float64() < s.opts.FailRate {
		s.failed.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":"bench sink: injected failure"}`+"\n")
		return
	}
	s.requests.Add(1)
	s.lines.Add(int64(countLines(buf.Bytes())))
	s.bytes.Add(int64(buf.Len()))
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads the request body into buf, gunzipping it if the request
// says it is gzip.
func readBody(buf *bytes.Buffer, r *http.Request) error {
	var src io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, _ := gzipPool.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(r.Body)
		} else {
			err = zr.Reset(r.Body)
		}
		if err != nil {
			return err
		}
		defer gzipPool.Put(zr)
		src = zr
	}
	if r.ContentLength > 0 && src == r.Body {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(src)
	return err
}

// countLines counts the points in a body in two vectorised passes. The
// bodies the load generator sends hold only plain lines (no comments,
// quotes or escapes), and a relay forwards their bytes, so a line is
// everything up to a '\n'. The one thing a relay may add is an empty line
// where it joins two bodies; a body with one is counted by lineproto's
// scanner instead, which skips blank lines exactly as InfluxDB does.
func countLines(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	if b[0] == '\n' || bytes.Contains(b, []byte("\n\n")) {
		return lineproto.Count(b).Lines
	}
	n := bytes.Count(b, []byte{'\n'})
	if b[len(b)-1] != '\n' {
		n++
	}
	return n
}
