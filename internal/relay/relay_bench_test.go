package relay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/wal"
)

var benchLine = []byte("cpu,cpu=cpu0,host=web-0042,region=eu-west-1 usage_idle=93.46,usage_system=2.11,usage_user=4.43 1700000000000000000\n")

func benchRecord(lines int) *record.Record {
	return &record.Record{Kind: record.KindWrite, DB: "bench", Received: time.Now().UnixNano(),
		Precision: uint8(lineproto.Nanosecond), Lines: uint32(lines), Body: bytes.Repeat(benchLine, lines)}
}

// BenchmarkBatchLen measures the merge decision of a delivery worker over
// a backlog of small writes, up to max-batch-kb (512 KB).
func BenchmarkBatchLen(b *testing.B) {
	rec := benchRecord(10)
	q := make([]pending, 10000)
	for i := range q {
		q[i] = pending{idx: uint64(i + 1), rec: *rec, size: len(rec.Body)}
	}
	b.ReportAllocs()
	for b.Loop() {
		batches := 0
		for rest := q; len(rest) > 0; batches++ {
			rest = rest[batchLen(rest, 512<<10):]
		}
		if batches < 2 {
			b.Fatalf("%d batches", batches)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(q)), "ns/record")
}

// BenchmarkDecodeBatch measures what a worker does per record it reads
// back from the log before sending: decode the record and merge it.
func BenchmarkDecodeBatch(b *testing.B) {
	payload := benchRecord(10).AppendEncode(nil)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	q := make([]pending, 0, 1)
	for b.Loop() {
		rec, err := record.Decode(payload)
		if err != nil {
			b.Fatal(err)
		}
		q = append(q[:0], pending{rec: rec, size: len(rec.Body)})
		if batchLen(q, 512<<10) != 1 {
			b.Fatal("batch")
		}
	}
}

// BenchmarkWrite measures Relay.Write end to end with two local backends
// that read and discard: encode, log append (group commit over 16
// concurrent writers), the wait for the first backend's verdict
// (consistency any with live backends) and delivery. Records per second is
// the ingest rate one relay could sustain on this machine without HTTP
// ingest in front.
func BenchmarkWrite(b *testing.B) {
	for _, mode := range []wal.SyncMode{wal.SyncAlways, wal.SyncNone} {
		for _, lines := range []int{10, 5000} {
			b.Run(fmt.Sprintf("sync=%s/lines=%d", mode, lines), func(b *testing.B) {
				benchWrite(b, mode, lines)
			})
		}
	}
}

func benchWrite(b *testing.B, mode wal.SyncMode, lines int) {
	var delivered atomic.Int64
	sink := func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		delivered.Add(n)
		w.WriteHeader(http.StatusNoContent)
	}
	var outs []config.OutputConfig
	for i := range 2 {
		srv := httptest.NewServer(http.HandlerFunc(sink))
		defer srv.Close()
		outs = append(outs, config.OutputConfig{Name: fmt.Sprintf("sink-%d", i), Location: config.Location(srv.URL + "/write"),
			Timeout: 10 * time.Second, MaxBatchKB: 512, MaxDelayInterval: time.Second})
	}
	r, err := New(Options{Name: "bench", Dir: b.TempDir(), Outputs: outs, Sync: mode})
	if err != nil {
		b.Fatal(err)
	}
	r.Start()
	rec := benchRecord(lines)
	b.SetBytes(int64(len(rec.Body)))
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rc := *rec
			rc.Received = time.Now().UnixNano()
			if a := r.Write(context.Background(), &rc, Any); a.Status != http.StatusNoContent {
				b.Errorf("write answered %d", a.Status)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		b.Fatal(err)
	}
}
