package wal

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
)

// BenchmarkAppend measures appends from 16 concurrent writers (as from
// concurrent HTTP requests), so group commit can share writes and fsyncs.
// Payload sizes are the benchmark tool's request shapes: 10 and 5000
// lines of ~100 bytes. With sync=always the figure depends on the disk's
// fsync latency far more than on the code.
func BenchmarkAppend(b *testing.B) {
	for _, mode := range []SyncMode{SyncAlways, SyncBatch, SyncNone} {
		for _, size := range []int{1 << 10, 500 << 10} {
			b.Run(fmt.Sprintf("sync=%s/size=%dKB", mode, size>>10), func(b *testing.B) {
				l, err := Open(Options{Dir: b.TempDir(), Sync: mode, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				p := make([]byte, size)
				for i := range p {
					p[i] = byte('a' + i%26)
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := l.Append(p); err != nil {
							b.Error(err)
							return
						}
					}
				})
				st := l.Stats()
				if st.Writes > 0 {
					b.ReportMetric(float64(st.Appends)/float64(st.Writes), "appends/write")
				}
			})
		}
	}
}

// BenchmarkReadTail measures a delivery worker reading records that are
// still in the tail cache, as a caught-up backend does.
func BenchmarkReadTail(b *testing.B) {
	l, err := Open(Options{Dir: b.TempDir(), Sync: SyncNone, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	p := make([]byte, 1<<10)
	const records = 1000
	for range records {
		if _, err := l.Append(p); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(records << 10)
	b.ReportAllocs()
	for b.Loop() {
		r, err := l.NewReader(l.FirstIndex())
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for n < records {
			es, err := r.Read(512 << 10)
			if err != nil || len(es) == 0 {
				b.Fatalf("read after %d records: %v", n, err)
			}
			n += len(es)
		}
	}
}
