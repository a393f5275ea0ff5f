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

// BenchmarkClientWrite measures one merged batch sent to a local server
// that reads and discards it: the per-request cost of the client (request
// building, the wire pool, answer classification) plus loopback.
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
