package ingest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"runtime"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// buffer holds body bytes; the pointer is what the pools keep, so putting
// one back allocates nothing.
type buffer struct{ b []byte }

// bufClasses are the capacities of pooled buffers. A request takes the
// smallest that fits, so a small write neither holds nor is charged for a
// large buffer. Larger buffers are allocated to size and dropped after
// use: pooling them would pin the memory of a burst of large writes for
// the life of the process.
var bufClasses = [...]int{64 << 10, 256 << 10, 1 << 20, 4 << 20}

var bufPools [len(bufClasses)]sync.Pool

// newBuffer returns an empty buffer with room for at least n bytes: a
// pooled one of the smallest class that fits, or a new one of n bytes.
// The caller has reserved cap(b) (see bufferCap) from its lease.
func newBuffer(n int) *buffer {
	for i, c := range bufClasses {
		if n <= c {
			if p, _ := bufPools[i].Get().(*buffer); p != nil {
				p.b = p.b[:0]
				return p
			}
			return &buffer{b: make([]byte, 0, c)}
		}
	}
	return &buffer{b: make([]byte, 0, n)}
}

// bufferCap is the capacity newBuffer(n) returns: what a lease reserves
// before asking for it.
func bufferCap(n int) int {
	for _, c := range bufClasses {
		if n <= c {
			return c
		}
	}
	return n
}

// freeBuffer puts a pooled-size buffer back; others are left to the
// collector.
func freeBuffer(p *buffer) {
	for i, c := range bufClasses {
		if cap(p.b) == c {
			bufPools[i].Put(p)
			return
		}
	}
}

// yieldEvery is how many body bytes a handler reads between yields of the
// P. Inflating a large body takes milliseconds of CPU without a blocking
// call, and reading a plain one blocks only when the client lags behind
// the copying. With influxgate on one core (GOMAXPROCS=1) the run queue is
// first in, first out, and a backend's answer that arrives meanwhile waits
// behind every such handler; the writes it answers wait with it, and so do
// the backend's next records, which its worker sends only after that
// answer. An execution trace of the gzip benchmark
// had the backend answer readers ready but waiting for the P 52% of their
// time; yielding every 32 KiB cut that to 13% and raised gzip throughput by
// 3-22% (median 8%) in six A/B pairs (docs/performance.md). A yield with
// nothing else ready takes 106-130 ns here; a 575 KB body yields 17 times.
const yieldEvery = 32 << 10

// errTooLarge is a body over the limit.
var errTooLarge = errors.New("Request Entity Too Large")

// gzipState is charged for a gzip reader's own state (its 32 KiB window
// and tables), so that many concurrent gzip writes are bounded too.
const gzipState = 64 << 10

// gzipReaders keeps inflaters for reuse: a reader's window and tables are
// most of the cost of a small gzip request. klauspost/compress inflates
// line protocol about 30% faster than compress/gzip (700 µs against 500 µs
// for a 5,000-line body here) with the same errors and texts.
var gzipReaders sync.Pool

// openGzip returns a pooled gzip reader reset to read body; the caller
// puts it back when done, whatever the outcome.
func openGzip(body io.Reader) (*gzip.Reader, error) {
	if gz, ok := gzipReaders.Get().(*gzip.Reader); ok {
		if err := gz.Reset(body); err != nil {
			gzipReaders.Put(gz)
			return nil, err
		}
		return gz, nil
	}
	return gzip.NewReader(body)
}

// readBody reads the request body, inflating it when it is gzipped, into
// a buffer whose every growth is reserved from l before it is allocated.
// It returns the buffer (its bytes in buf.b) or the error to answer with:
// errTooLarge over the limit, a lease error when the budget refuses, or a
// read or gzip error (400, with InfluxDB's text). On error, what it
// reserved stays on l until the caller closes it.
func readBody(r *http.Request, limit int64, l *lease) (*buffer, error) {
	return readBodyAs(r, r.Header.Get("Content-Encoding") == "gzip", limit, l)
}

// readBodyAs is readBody with the decision to inflate made by the caller:
// a Prometheus remote write is snappy whatever its Content-Encoding says.
func readBodyAs(r *http.Request, gzipped bool, limit int64, l *lease) (*buffer, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	size := int64(64 << 10) // unknown length: start small, grow by doubling
	if r.ContentLength >= 0 {
		// One byte more than the body, so the read that finds EOF has
		// room and the buffer never grows.
		size = r.ContentLength + 1
	}
	if gzipped {
		return readGzipped(r, size, limit, l)
	}
	return readAll(r.Body, size, limit, l)
}

// readGzipped reads a gzipped body whole and then inflates it. The inflater
// is faster reading from memory (it takes bytes straight from a
// bytes.Reader instead of through a bufio.Reader: 3% in a benchmark of
// the bench's 5,000-line body), and the compressed bytes are a fraction of
// what they inflate to. The compressed copy is reserved from l like a
// plain body (size bytes to start with) and let go once the body is
// inflated. A chunked body larger than limit is refused as one with a
// Content-Length is.
func readGzipped(r *http.Request, size, limit int64, l *lease) (*buffer, error) {
	comp, err := readAll(r.Body, size, limit, l)
	if err != nil {
		return nil, err
	}
	defer func() {
		l.release(int64(cap(comp.b)))
		freeBuffer(comp)
	}()
	if err := l.reserve(gzipState); err != nil {
		return nil, err
	}
	gz, err := openGzip(bytes.NewReader(comp.b))
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	defer gzipReaders.Put(gz)
	// line protocol inflates 5-30 times
	buf, err := readAll(gz, max(64<<10, 4*int64(len(comp.b))), limit, l)
	if err != nil {
		return nil, err
	}
	l.release(gzipState) // the reader is done with its window
	return buf, nil
}

// readAll reads src to its end into a buffer of size bytes to start with,
// doubling it as needed up to limit+1 bytes.
func readAll(src io.Reader, size, limit int64, l *lease) (*buffer, error) {
	// limit+1 bytes tell a body over the limit from one at it.
	size = min(size, limit+1)
	if err := l.reserve(int64(bufferCap(int(size)))); err != nil {
		return nil, err
	}
	buf := newBuffer(int(size))
	yielded := 0
	for {
		if len(buf.b) == cap(buf.b) {
			if int64(len(buf.b)) > limit {
				freeBuffer(buf)
				return nil, errTooLarge
			}
			next, err := grow(buf, limit, l)
			if err != nil {
				freeBuffer(buf)
				return nil, err
			}
			buf = next
		}
		n, err := src.Read(buf.b[len(buf.b):cap(buf.b)])
		buf.b = buf.b[:len(buf.b)+n]
		if len(buf.b)-yielded >= yieldEvery {
			yielded = len(buf.b)
			runtime.Gosched()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			freeBuffer(buf)
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, errTooLarge
			}
			return nil, err
		}
	}
	if int64(len(buf.b)) > limit {
		freeBuffer(buf)
		return nil, errTooLarge
	}
	return buf, nil
}

// grow moves a full buffer into one twice its size (at most limit+1
// bytes), reserving the new one before it is allocated and releasing the
// old one after the copy.
func grow(buf *buffer, limit int64, l *lease) (*buffer, error) {
	size := min(2*int64(cap(buf.b)), limit+1)
	if err := l.reserve(int64(bufferCap(int(size)))); err != nil {
		return nil, err
	}
	next := newBuffer(int(size))
	next.b = append(next.b, buf.b...)
	l.release(int64(cap(buf.b)))
	freeBuffer(buf)
	return next, nil
}

// stampedCap bounds the length of body once stamped with a timestamp of
// tsLen digits: every line may gain a space and the timestamp.
func stampedCap(body []byte, tsLen int) int {
	return len(body) + (bytes.Count(body, []byte{'\n'})+1)*(tsLen+1)
}
