package backend

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/influxgate/influxgate/internal/config"
)

// benchBodies returns n record bodies that together hold about total bytes
// of ~100-byte lines: what a delivery worker merges into one request.
func benchBodies(n, total int) [][]byte {
	line := []byte("cpu,cpu=cpu0,host=web-0042,region=eu-west-1 usage_idle=93.46,usage_system=2.11,usage_user=4.43 1700000000000000000\n")
	per := max(1, total/n/len(line))
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = bytes.Repeat(line, per)
	}
	return bodies
}

// batchShapes are the merges a worker makes: one large write, many small
// writes merged up to max-batch-kb (512 KB), and one small write alone.
var batchShapes = []struct {
	name          string
	records, size int
}{
	{"1x500KB", 1, 500 << 10},
	{"500x1KB", 500, 500 << 10},
	{"1x1KB", 1, 1 << 10},
}

// socketLike copies what it is given into a fixed buffer, as a write(2) to
// a socket copies into the kernel, so that a benchmark counts every copy.
// It has no ReadFrom: the "as-net-http" cases copy the body the way
// net/http does when the connection cannot take it whole (through an
// io.LimitedReader in 32 KB chunks), which is what every batch cost before
// sanitizingConn.ReadFrom; "WriteTo" is what that ReadFrom does, less the
// syscall savings of writev.
type socketLike struct{ buf []byte }

func (s *socketLike) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		rest = rest[copy(s.buf, rest):]
	}
	return len(p), nil
}

// BenchmarkBodiesReader measures merging record bodies into one request
// body, both the way io.Copy can use WriteTo and the way net/http copies it.
func BenchmarkBodiesReader(b *testing.B) {
	for _, s := range batchShapes {
		bodies := benchBodies(s.records, s.size)
		var size int64
		for _, body := range bodies {
			size += int64(len(body))
		}
		dst := &socketLike{buf: make([]byte, 64<<10)}
		b.Run(s.name+"/WriteTo", func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if n, err := io.Copy(dst, newBodiesReader(bodies)); err != nil || n != size {
					b.Fatalf("copied %d of %d: %v", n, size, err)
				}
			}
		})
		b.Run(s.name+"/as-net-http", func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			buf := make([]byte, 32<<10)
			for b.Loop() {
				r := newBodiesReader(bodies)
				if n, err := io.CopyBuffer(dst, io.LimitReader(io.NopCloser(r), r.size), buf); err != nil || n != size {
					b.Fatalf("copied %d of %d: %v", n, size, err)
				}
			}
		})
	}
}

// BenchmarkClientWrite measures one merged batch sent to a local server
// that reads and discards it: the per-request cost of the client (request
// building, net/http transport, answer classification) plus loopback.
func BenchmarkClientWrite(b *testing.B) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		got.Add(n)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c, err := New(config.OutputConfig{Name: "bench", Location: config.Location(srv.URL + "/write")})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, s := range batchShapes {
		b.Run(s.name, func(b *testing.B) {
			batch := &Batch{DB: "bench", Bodies: benchBodies(s.records, s.size)}
			var size int64
			for _, body := range batch.Bodies {
				size += int64(len(body))
			}
			b.SetBytes(size)
			b.ReportAllocs()
			got.Store(0)
			for b.Loop() {
				if res := c.Write(context.Background(), batch); res.Class != Accepted {
					b.Fatalf("write: %+v", res)
				}
			}
			if want := size * int64(b.N); got.Load() != want {
				b.Fatalf("server read %d bytes, want %d", got.Load(), want)
			}
		})
	}
}
