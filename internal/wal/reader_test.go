package wal

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

func TestReadersIndependentAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentSize: 3 << 10, CacheBytes: 1 << 20}
	l := openLog(t, opts)
	appendN(t, l, 1, 300)
	if len(l.Segments()) < 10 {
		t.Fatalf("only %d segments", len(l.Segments()))
	}
	// Several readers at different positions, interleaved.
	starts := []uint64{1, 17, 150, 299, 301}
	readers := make([]*Reader, len(starts))
	got := make([][]Entry, len(starts))
	for i, s := range starts {
		r, err := l.NewReader(s)
		if err != nil {
			t.Fatal(err)
		}
		readers[i] = r
	}
	for progress := true; progress; {
		progress = false
		for i, r := range readers {
			ents, err := r.Read(700)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				e.Data = bytes.Clone(e.Data)
				got[i] = append(got[i], e)
			}
			progress = progress || len(ents) > 0
		}
	}
	for i, s := range starts {
		var want []uint64
		if s <= 300 {
			want = span(s, 300)
		}
		checkRecords(t, got[i], want)
	}
	cached := got[0]
	if st := l.Stats(); st.CacheHits == 0 || st.DiskReads != 0 {
		t.Fatalf("with a large cache every read should be a cache hit: %+v", st)
	}

	// After a restart the cache is empty: the same records come from disk,
	// identical in index, offset, size and payload.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, opts)
	fromDisk, _ := readAll(t, l, 1, 700)
	if len(fromDisk) != len(cached) {
		t.Fatalf("%d records from disk, %d from cache", len(fromDisk), len(cached))
	}
	for i := range cached {
		c, d := cached[i], fromDisk[i]
		if !c.Cached || d.Cached || c.Index != d.Index || c.Offset != d.Offset || c.Size != d.Size || !bytes.Equal(c.Data, d.Data) {
			t.Fatalf("record %d differs: cache %+v, disk %+v", i+1, c, d)
		}
	}
	if st := l.Stats(); st.DiskReads != 300 || st.CacheHits != 0 {
		t.Fatalf("after restart: %+v", st)
	}
}

func TestReadMaxBytes(t *testing.T) {
	for _, cache := range []int64{1, 1 << 20} { // disk, memory
		l := openLog(t, Options{Dir: t.TempDir(), SegmentSize: 8 << 10, CacheBytes: cache})
		appendN(t, l, 1, 200)
		for _, maxBytes := range []int{0, 1, 100, 1000, 5000, 1 << 20} {
			r, err := l.NewReader(1)
			if err != nil {
				t.Fatal(err)
			}
			next := uint64(1)
			for {
				ents, err := r.Read(maxBytes)
				if err != nil {
					t.Fatal(err)
				}
				if len(ents) == 0 {
					break
				}
				total := 0
				for _, e := range ents {
					if e.Index != next || !bytes.Equal(e.Data, payload(next)) {
						t.Fatalf("cache %d maxBytes %d: got record %d, want %d", cache, maxBytes, e.Index, next)
					}
					next++
					total += len(e.Data)
				}
				if len(ents) > 1 && total > maxBytes {
					t.Fatalf("cache %d: Read(%d) returned %d records with %d payload bytes", cache, maxBytes, len(ents), total)
				}
				// It stops only when the next record would not fit.
				if next <= 200 && maxBytes >= total+len(payload(next)) {
					t.Fatalf("cache %d: Read(%d) stopped at %d bytes with record %d (%d bytes) still fitting",
						cache, maxBytes, total, next, len(payload(next)))
				}
				if r.Next() != next {
					t.Fatalf("Next() %d, want %d", r.Next(), next)
				}
			}
			if next != 201 {
				t.Fatalf("maxBytes %d: read up to %d", maxBytes, next-1)
			}
		}
	}
}

func TestTailReaderWithNotify(t *testing.T) {
	l := openLog(t, Options{Dir: t.TempDir(), SegmentSize: 16 << 10, CacheBytes: 4 << 10})
	const n = 2000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint64(1); i <= n; i++ {
			if _, err := l.Append(payload(i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	r, err := l.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	next := uint64(1)
	for next <= n {
		ents, err := r.Read(2 << 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) == 0 {
			<-l.Notify(r.Next() - 1)
			continue
		}
		for _, e := range ents {
			if e.Index != next || !bytes.Equal(e.Data, payload(next)) {
				t.Fatalf("got record %d, want %d", e.Index, next)
			}
			next++
		}
	}
	wg.Wait()
	if g := r.Gaps(); len(g) != 0 {
		t.Fatalf("gaps %v", g)
	}
}

func TestSeek(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentSize: 2 << 10, CacheBytes: 4 << 10}
	l := openLog(t, opts)
	appendN(t, l, 1, 120)
	for _, name := range []string{"live", "reopened"} {
		if name == "reopened" {
			_ = l.Close()
			l = openLog(t, opts)
		}
		r, err := l.NewReader(1)
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range []uint64{120, 1, 60, 59, 119, 2, 100, 33} {
			if err := r.Seek(to); err != nil {
				t.Fatalf("%s: Seek(%d): %v", name, to, err)
			}
			ents, err := r.Read(1)
			if err != nil || len(ents) != 1 || ents[0].Index != to || !bytes.Equal(ents[0].Data, payload(to)) {
				t.Fatalf("%s: after Seek(%d) read %v, %v", name, to, firstIdx(ents), err)
			}
		}
		if err := r.Seek(121); err != nil {
			t.Fatalf("Seek to the end: %v", err)
		}
		if ents, err := r.Read(1); err != nil || ents != nil || r.Offset() != l.EndOffset() {
			t.Fatalf("at end: %v, %v, offset %d of %d", ents, err, r.Offset(), l.EndOffset())
		}
		if err := r.Seek(122); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("Seek past the end: %v", err)
		}
		if _, err := l.NewReader(500); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("NewReader past the end: %v", err)
		}
		if g := r.Gaps(); len(g) != 0 {
			t.Fatalf("gaps %v", g)
		}
		_ = r.Close()
		if _, err := r.Read(1); !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
	}
}

func TestSeekOffset(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentSize: 2 << 10, CacheBytes: 4 << 10}
	l := openLog(t, opts)
	appendN(t, l, 1, 120)
	all, _ := readAll(t, l, 1, 1<<20)
	end := l.EndOffset()
	// firstAt returns the index of the first record with offset >= off.
	firstAt := func(off int64) uint64 {
		for _, e := range all {
			if e.Offset >= off {
				return e.Index
			}
		}
		return 121
	}
	var offs []int64
	for _, i := range []int{0, 1, 30, 59, 60, 100, 118, 119} {
		e := all[i]
		offs = append(offs, e.Offset, e.Offset+1, e.Offset+e.Size-1)
	}
	offs = append(offs, -5, 0, end-1, end, end+100)
	for _, name := range []string{"live", "reopened"} {
		if name == "reopened" {
			_ = l.Close()
			l = openLog(t, opts)
		}
		r, err := l.NewReader(50)
		if err != nil {
			t.Fatal(err)
		}
		for _, off := range offs {
			if err := r.SeekOffset(off); err != nil {
				t.Fatalf("%s: SeekOffset(%d): %v", name, off, err)
			}
			want := firstAt(off)
			if r.Next() != want {
				t.Fatalf("%s: SeekOffset(%d): Next %d, want %d", name, off, r.Next(), want)
			}
			if want <= 120 && r.Offset() != all[want-1].Offset {
				t.Fatalf("%s: SeekOffset(%d): Offset %d, want %d", name, off, r.Offset(), all[want-1].Offset)
			}
			if want > 120 && r.Offset() != end {
				t.Fatalf("%s: SeekOffset(%d) at end: Offset %d, want %d", name, off, r.Offset(), end)
			}
			ents, err := r.Read(1)
			if err != nil {
				t.Fatal(err)
			}
			if want <= 120 && (len(ents) != 1 || ents[0].Index != want) {
				t.Fatalf("%s: read after SeekOffset(%d): %v", name, off, firstIdx(ents))
			}
		}
		_ = r.Close()
	}
}

func TestCacheBounded(t *testing.T) {
	const limit = 8 << 10
	l := openLog(t, Options{Dir: t.TempDir(), CacheBytes: limit})
	for i := uint64(1); i <= 2000; i++ {
		appendN(t, l, i, 1)
		if st := l.Stats(); st.CacheBytes > limit {
			t.Fatalf("cache holds %d bytes after record %d, limit %d", st.CacheBytes, i, limit)
		}
	}
	st := l.Stats()
	if st.CacheRecords == 0 || st.CacheRecords > 100 {
		t.Fatalf("cache holds %d records", st.CacheRecords)
	}
	// A record larger than the cache bypasses it.
	if _, err := l.Append(make([]byte, limit+1)); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.CacheRecords != 0 {
		t.Fatalf("cache holds %d records after an oversized one", st.CacheRecords)
	}
}

// TestConcurrentReadTruncateAppend runs appenders, readers and truncation at
// once (for the race detector) and checks every reader sees records in order,
// reporting truncation as gaps and never returning garbage.
func TestConcurrentReadTruncateAppend(t *testing.T) {
	l := openLog(t, Options{Dir: t.TempDir(), SegmentSize: 4 << 10, CacheBytes: 2 << 10, Sync: SyncNone})
	const n = 3000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(stop)
		for i := uint64(1); i <= n; i++ {
			if _, err := l.Append(payload(i)); err != nil {
				t.Error(err)
				return
			}
			if i%100 == 0 {
				if err := l.TruncateFront(i - 50); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for rd := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := l.NewReader(1)
			if err != nil {
				t.Error(err)
				return
			}
			defer r.Close()
			next := uint64(1)
			for next <= n {
				ents, err := r.Read(100 << (rd * 4))
				if err != nil {
					t.Error(err)
					return
				}
				for _, g := range r.Gaps() {
					if g.Reason != GapTruncated || g.From != next {
						t.Errorf("reader %d: unexpected gap %+v at %d", rd, g, next)
						return
					}
					next = g.To + 1
				}
				for _, e := range ents {
					if e.Index != next || !bytes.Equal(e.Data, payload(next)) {
						t.Errorf("reader %d: got record %d, want %d", rd, e.Index, next)
						return
					}
					next++
				}
				if len(ents) == 0 {
					select {
					case <-l.Notify(r.Next() - 1):
					case <-stop:
					}
				}
			}
		}()
	}
	wg.Wait()
}

func TestDiskReaderSwitchesToCache(t *testing.T) {
	l := openLog(t, Options{Dir: t.TempDir(), CacheBytes: 20 * (cacheEntryOverhead + 400)})
	appendN(t, l, 1, 200)
	r, err := l.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	ents, gaps := readAll(t, l, 1, 1<<30)
	checkRecords(t, ents, span(1, 200))
	if len(gaps) != 0 {
		t.Fatal(gaps)
	}
	var fromDisk, fromCache int
	for {
		ents, err := r.Read(1 << 30)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) == 0 {
			break
		}
		for _, e := range ents {
			if e.Cached {
				fromCache++
			} else {
				fromDisk++
			}
		}
	}
	st := l.Stats()
	if fromDisk+fromCache != 200 || fromCache != st.CacheRecords || fromCache == 0 {
		t.Fatalf("%d records from disk, %d from cache; the cache holds %d", fromDisk, fromCache, st.CacheRecords)
	}
}
