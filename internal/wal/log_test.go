package wal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
)

func TestParseSyncMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want SyncMode
		ok   bool
	}{
		{"always", SyncAlways, true},
		{"batch", SyncBatch, true},
		{"none", SyncNone, true},
		{"", 0, false},
		{"Always", 0, false},
		{"fsync", 0, false},
	} {
		got, err := ParseSyncMode(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSyncMode(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
}

func TestEmptyLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	l := openLog(t, Options{Dir: dir})
	if l.FirstIndex() != 0 || l.LastIndex() != 0 || l.EndOffset() != 0 {
		t.Fatalf("empty log: first %d last %d end %d", l.FirstIndex(), l.LastIndex(), l.EndOffset())
	}
	r, err := l.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	if ents, err := r.Read(1 << 20); err != nil || ents != nil {
		t.Fatalf("Read on empty log = %v, %v", ents, err)
	}
	if r.Next() != 1 {
		t.Fatalf("reader on empty log: Next %d, want 1", r.Next())
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", fi.Mode().Perm())
	}
	for _, p := range segFiles(t, dir) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", p, fi.Mode().Perm())
		}
	}
}

func TestAppendReadRestart(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncBatch, SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, SegmentSize: 4 << 10, Sync: mode}
			l := openLog(t, opts)
			appendN(t, l, 1, 200)
			end := l.EndOffset()
			ents, gaps := readAll(t, l, 1, 1<<20)
			checkRecords(t, ents, span(1, 200))
			if len(gaps) != 0 {
				t.Fatalf("gaps %v", gaps)
			}
			if n := len(segFiles(t, dir)); n < 5 {
				t.Fatalf("%d segment files, want several (rotation)", n)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append([]byte("x")); !errors.Is(err, ErrClosed) {
				t.Fatalf("Append after Close: %v, want ErrClosed", err)
			}

			l = openLog(t, opts)
			rep := l.OpenReport()
			if rep.FirstIndex != 1 || rep.LastIndex != 200 || rep.Records != 200 || rep.TornBytes != 0 || rep.CorruptRecords != 0 {
				t.Fatalf("report after clean restart: %+v", rep)
			}
			if l.EndOffset() != end {
				t.Fatalf("EndOffset %d after restart, was %d", l.EndOffset(), end)
			}
			appendN(t, l, 201, 50)
			ents, _ = readAll(t, l, 1, 1<<20)
			checkRecords(t, ents, span(1, 250))
			// Offsets are continuous and match the frame sizes.
			var off int64
			for _, e := range ents {
				if e.Offset != off || e.Size != frameHeaderLen+int64(len(e.Data)) {
					t.Fatalf("record %d: offset %d size %d, want offset %d size %d",
						e.Index, e.Offset, e.Size, off, frameHeaderLen+len(e.Data))
				}
				off += e.Size
			}
			if off != l.EndOffset() {
				t.Fatalf("sum of sizes %d != EndOffset %d", off, l.EndOffset())
			}
		})
	}
}

func TestConcurrentAppenders(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir, SegmentSize: 64 << 10, Sync: SyncAlways})
	const workers, per = 32, 60
	var mu sync.Mutex
	got := map[uint64][]byte{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				p := []byte{byte(w), byte(i)}
				p = append(p, bytes.Repeat([]byte{byte(w*per + i)}, 50+w)...)
				idx, err := l.Append(p)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if _, dup := got[idx]; dup {
					t.Errorf("index %d returned twice", idx)
				}
				got[idx] = p
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	const n = workers * per
	idxs := make([]uint64, 0, n)
	for i := range got {
		idxs = append(idxs, i)
	}
	sort.Slice(idxs, func(i, j int) bool { return idxs[i] < idxs[j] })
	if len(idxs) != n || idxs[0] != 1 || idxs[n-1] != n {
		t.Fatalf("indexes not 1..%d: %d of them, %d..%d", n, len(idxs), idxs[0], idxs[len(idxs)-1])
	}
	ents, _ := readAll(t, l, 1, 1<<20)
	if len(ents) != n {
		t.Fatalf("read %d records, want %d", len(ents), n)
	}
	for i, e := range ents {
		if e.Index != uint64(i+1) || !bytes.Equal(e.Data, got[e.Index]) {
			t.Fatalf("record %d: index %d, payload mismatch %v", i+1, e.Index, !bytes.Equal(e.Data, got[e.Index]))
		}
	}
	st := l.Stats()
	if st.Appends != n {
		t.Fatalf("Stats.Appends %d, want %d", st.Appends, n)
	}
	// Group commit: concurrent appenders share fsyncs.
	if st.Fsyncs >= st.Appends {
		t.Fatalf("fsyncs %d >= appends %d: no group commit", st.Fsyncs, st.Appends)
	}
	t.Logf("%d appends, %d writes, %d fsyncs", st.Appends, st.Writes, st.Fsyncs)
}

func TestAppendTooLarge(t *testing.T) {
	l := openLog(t, Options{Dir: t.TempDir()})
	if _, err := l.Append(make([]byte, MaxRecordSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append(too large) = %v, want ErrTooLarge", err)
	}
	if l.LastIndex() != 0 {
		t.Fatalf("LastIndex %d after rejected append", l.LastIndex())
	}
}

func TestLargeRecordsAndRotation(t *testing.T) {
	// Records larger than the segment size each get a segment of their own;
	// records above directWriteSize take the uncopied write path.
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir, SegmentSize: 100 << 10, CacheBytes: 1 << 10})
	var want [][]byte
	for i := range 6 {
		p := bytes.Repeat([]byte{byte('A' + i)}, 150<<10+i)
		if _, err := l.Append(p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	if n := len(l.Segments()); n != 6 {
		t.Fatalf("%d segments, want 6", n)
	}
	r, err := l.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		ents, err := r.Read(1) // always at least one record, however large
		if err != nil || len(ents) != 1 {
			t.Fatalf("Read: %d entries, %v", len(ents), err)
		}
		if ents[0].Cached || !bytes.Equal(ents[0].Data, want[i]) {
			t.Fatalf("record %d: cached=%v, payload mismatch", i+1, ents[0].Cached)
		}
	}
	// A damaged byte deep inside a large payload loses that record only.
	_ = r.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	flipByte(t, segFiles(t, dir)[2], segHeaderLen+frameHeaderLen+100<<10)
	l = openLog(t, Options{Dir: dir, SegmentSize: 100 << 10, CacheBytes: 1 << 10})
	r, err = l.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, i := range []int{0, 1, 3, 4, 5} {
		ents, err := r.Read(1)
		if err != nil || len(ents) != 1 || ents[0].Index != uint64(i+1) || !bytes.Equal(ents[0].Data, want[i]) {
			t.Fatalf("after damage: want record %d, got %v, %v", i+1, firstIdx(ents), err)
		}
	}
	if g := r.Gaps(); len(g) != 1 || g[0] != (Gap{From: 3, To: 3, Reason: GapCorrupt}) {
		t.Fatalf("gaps %v", g)
	}
}

func TestNotify(t *testing.T) {
	l := openLog(t, Options{Dir: t.TempDir()})
	ch := l.Notify(0)
	select {
	case <-ch:
		t.Fatal("Notify(0) closed on an empty log")
	default:
	}
	ch2 := l.Notify(1)
	appendN(t, l, 1, 1)
	<-ch // must be closed now: LastIndex 1 > 0
	select {
	case <-ch2:
		t.Fatal("Notify(1) closed while LastIndex is 1")
	default:
	}
	select {
	case <-l.Notify(0):
	default:
		t.Fatal("Notify(0) not closed at once when LastIndex is 1")
	}
	appendN(t, l, 2, 1)
	<-ch2
	ch3 := l.Notify(2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	<-ch3 // Close wakes waiters
}

func TestTruncateFront(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir, SegmentSize: 2 << 10, CacheBytes: 512})
	appendN(t, l, 1, 100)
	segs := l.Segments()
	if len(segs) < 4 {
		t.Fatalf("%d segments, want at least 4", len(segs))
	}
	behind, err := l.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	// Everything below the third segment's first record: the first two go.
	before := segs[2].FirstIndex + 1 // a record inside segment 3
	if err := l.TruncateFront(before); err != nil {
		t.Fatal(err)
	}
	got := l.Segments()
	if len(got) != len(segs)-2 || got[0].FirstIndex != segs[2].FirstIndex {
		t.Fatalf("after TruncateFront(%d): first segment starts at %d, %d segments; want %d, %d",
			before, got[0].FirstIndex, len(got), segs[2].FirstIndex, len(segs)-2)
	}
	for _, s := range segs[:2] {
		if _, err := os.Stat(s.Path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s still exists: %v", s.Path, err)
		}
	}
	if l.FirstIndex() != segs[2].FirstIndex {
		t.Fatalf("FirstIndex %d, want %d", l.FirstIndex(), segs[2].FirstIndex)
	}
	// The reader behind the truncation skips to FirstIndex and reports it.
	ents, err := behind.Read(1 << 20)
	if err != nil || len(ents) == 0 || ents[0].Index != segs[2].FirstIndex {
		t.Fatalf("reader behind truncation: %d entries, first %v, %v", len(ents), firstIdx(ents), err)
	}
	gaps := behind.Gaps()
	if len(gaps) != 1 || gaps[0] != (Gap{From: 1, To: segs[2].FirstIndex - 1, Reason: GapTruncated}) {
		t.Fatalf("gaps %v", gaps)
	}
	// A new reader from before FirstIndex reports the gap too.
	_, gaps = readAll(t, l, 1, 1<<20)
	if len(gaps) != 1 || gaps[0].Reason != GapTruncated {
		t.Fatalf("NewReader(1) gaps %v", gaps)
	}
	// Truncating everything keeps the tail segment and its records.
	if err := l.TruncateFront(1000); err != nil {
		t.Fatal(err)
	}
	if n := len(l.Segments()); n != 1 {
		t.Fatalf("%d segments after truncating everything, want the tail", n)
	}
	if l.LastIndex() != 100 {
		t.Fatalf("LastIndex %d", l.LastIndex())
	}
	appendN(t, l, 101, 1)
}

func TestStatsAndSegments(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir, SegmentSize: 4 << 10})
	appendN(t, l, 1, 100)
	st := l.Stats()
	segs := l.Segments()
	var disk int64
	for i, s := range segs {
		fi, err := os.Stat(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != s.DiskBytes {
			t.Fatalf("segment %s: DiskBytes %d, file has %d", s.Path, s.DiskBytes, fi.Size())
		}
		disk += s.DiskBytes
		if i > 0 && (s.FirstIndex != segs[i-1].LastIndex+1 || s.BaseOffset != segs[i-1].EndOffset) {
			t.Fatalf("segments not contiguous: %+v after %+v", s, segs[i-1])
		}
	}
	if st.DiskBytes != disk || st.Segments != len(segs) || st.LastIndex != 100 || st.FirstIndex != 1 {
		t.Fatalf("stats %+v, disk bytes %d", st, disk)
	}
	if segs[len(segs)-1].EndOffset != l.EndOffset() {
		t.Fatalf("last segment ends at %d, EndOffset %d", segs[len(segs)-1].EndOffset, l.EndOffset())
	}
}
