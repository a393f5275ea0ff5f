package wal

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppend: b.N appends shared by `writers` goroutines. Reports MB/s
// (payload), records/s and fsyncs per append.
func BenchmarkAppend(b *testing.B) {
	for _, mode := range []SyncMode{SyncAlways, SyncBatch, SyncNone} {
		for _, size := range []int{1 << 10, 500 << 10} {
			for _, writers := range []int{1, 8, 64} {
				name := fmt.Sprintf("%s/%dKB/writers=%d", mode, size>>10, writers)
				b.Run(name, func(b *testing.B) { benchAppend(b, mode, size, writers) })
			}
		}
	}
}

func benchAppend(b *testing.B, mode SyncMode, size, writers int) {
	l, err := Open(Options{Dir: b.TempDir(), Sync: mode})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	p := bytes.Repeat([]byte("x"), size) // never modified, so sharing it is fine
	var left atomic.Int64
	left.Store(int64(b.N))
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if _, err := l.Append(p); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	st := l.Stats()
	b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
	b.ReportMetric(float64(st.Fsyncs)/float64(st.Appends), "fsyncs/append")
	b.ReportMetric(float64(st.Appends)/float64(st.Writes), "records/write")
}

// BenchmarkRead: one reader streaming 1 KB records in 1 MiB batches, from the
// tail cache and from segment files (page cache, checksums verified).
func BenchmarkRead(b *testing.B) {
	for _, src := range []string{"cache", "disk"} {
		b.Run(src, func(b *testing.B) {
			cache := int64(64 << 20)
			if src == "disk" {
				cache = 1
			}
			l, err := Open(Options{Dir: b.TempDir(), Sync: SyncNone, CacheBytes: cache})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			const n = 20000
			p := bytes.Repeat([]byte("y"), 1<<10)
			for range n {
				if _, err := l.Append(p); err != nil {
					b.Fatal(err)
				}
			}
			r, err := l.NewReader(1)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(1 << 10)
			b.ResetTimer()
			for got := 0; got < b.N; {
				ents, err := r.Read(1 << 20)
				if err != nil {
					b.Fatal(err)
				}
				if len(ents) == 0 {
					if err := r.Seek(1); err != nil {
						b.Fatal(err)
					}
					continue
				}
				got += len(ents)
			}
			b.StopTimer()
			st := l.Stats()
			if src == "cache" && st.DiskReads > 0 || src == "disk" && st.CacheHits > 0 {
				b.Fatalf("read from the wrong place: %+v", st)
			}
		})
	}
}
