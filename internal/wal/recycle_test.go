package wal

import (
	"os"
	"path/filepath"
	"testing"
)

// A deleted segment is kept as the spare and the next rotation starts in
// it; a reused segment is cut back to its data when sealed; a reopen cuts
// the unused rest of a reused tail quietly; every record reads back, before
// and after the reopen.
func TestTruncatedSegmentIsReused(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentSize: 4 << 10, Sync: SyncAlways}
	l := openLog(t, opts)
	appendN(t, l, 1, 300) // about 30 segments
	segs := l.Segments()
	if len(segs) < 6 {
		t.Fatalf("%d segments, want at least 6", len(segs))
	}
	newestVictim, err := os.Stat(segs[2].Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateFront(segs[3].FirstIndex); err != nil {
		t.Fatal(err)
	}
	spare := filepath.Join(dir, spareName)
	if fi, err := os.Stat(spare); err != nil || !os.SameFile(fi, newestVictim) {
		t.Fatalf("the spare is not the newest deleted segment: %v", err)
	}
	for _, s := range segs[:3] {
		if _, err := os.Stat(s.Path); !os.IsNotExist(err) {
			t.Errorf("deleted segment %s still there: %v", filepath.Base(s.Path), err)
		}
	}

	// Append until the log rotates into the spare, and a little more.
	next := uint64(301)
	before := len(l.Segments())
	for len(l.Segments()) == before {
		appendN(t, l, next, 1)
		next++
	}
	appendN(t, l, next, 3)
	next += 3
	if _, err := os.Stat(spare); !os.IsNotExist(err) {
		t.Fatalf("the spare was not used by the rotation: %v", err)
	}
	segs = l.Segments()
	reused := segs[len(segs)-1]
	fi, err := os.Stat(reused.Path)
	if err != nil || !os.SameFile(fi, newestVictim) {
		t.Fatalf("the new segment is not the spare: %v", err)
	}
	if fi.Size() <= reused.DiskBytes {
		t.Fatalf("the reused segment's file is %d bytes for %d of data: nothing of the old segment after it", fi.Size(), reused.DiskBytes)
	}
	ents, gaps := readAll(t, l, l.FirstIndex(), 1<<20)
	checkRecords(t, ents, span(l.FirstIndex(), next-1))
	if len(gaps) != 0 {
		t.Fatalf("gaps: %v", gaps)
	}

	// Reopen with the reused segment as the tail.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, opts)
	if rep := l.OpenReport(); len(rep.Problems) != 0 || rep.TornBytes != 0 || rep.CorruptRecords != 0 || rep.LastIndex != next-1 {
		t.Fatalf("reopen with a reused tail: %+v", rep)
	}
	if fi, err := os.Stat(reused.Path); err != nil || fi.Size() != reused.DiskBytes {
		t.Fatalf("the unused rest of the reused tail was not cut: %v", err)
	}
	ents, gaps = readAll(t, l, l.FirstIndex(), 1<<20)
	checkRecords(t, ents, span(l.FirstIndex(), next-1))
	if len(gaps) != 0 {
		t.Fatalf("gaps after reopen: %v", gaps)
	}

	// Reuse again, then seal the reused segment: it ends at its data.
	segs = l.Segments()
	if err := l.TruncateFront(segs[len(segs)-3].FirstIndex); err != nil {
		t.Fatal(err)
	}
	for rotations := 0; rotations < 2; {
		n := len(l.Segments())
		appendN(t, l, next, 1)
		next++
		if len(l.Segments()) != n {
			rotations++
		}
	}
	segs = l.Segments()
	sealed := segs[len(segs)-2]
	if fi, err := os.Stat(sealed.Path); err != nil || fi.Size() != sealed.DiskBytes {
		t.Fatalf("a sealed segment's file is not cut to its data (%d bytes with its header): %v %v", sealed.DiskBytes, fi.Size(), err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, opts)
	if rep := l.OpenReport(); len(rep.Problems) != 0 || rep.CorruptRecords != 0 {
		t.Fatalf("second reopen: %+v", rep)
	}
	ents, gaps = readAll(t, l, l.FirstIndex(), 1<<20)
	checkRecords(t, ents, span(l.FirstIndex(), next-1))
	if len(gaps) != 0 {
		t.Fatalf("gaps after the second reopen: %v", gaps)
	}
}
