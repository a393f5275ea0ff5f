package wal

import (
	"os"
	"path/filepath"
	"syscall"
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
	spare := ""
	for _, name := range spareFiles(t, dir) {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && os.SameFile(fi, newestVictim) {
			spare = filepath.Join(dir, name)
		}
	}
	if spare == "" {
		t.Fatalf("the newest deleted segment is not a spare: spares %v", spareFiles(t, dir))
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

// spareFiles lists the spares in dir.
func spareFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if isSpareName(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// A log keeps as many spares as it started segments since the previous
// truncation, up to maxSpares; its rotations use every one of them; a
// truncation after fewer rotations gives the extra spares back; a reopen
// finds the spares (by any of their names) and uses them.
func TestSparesFollowTheRotationRate(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentSize: 4 << 10, Sync: SyncAlways}
	l := openLog(t, opts)
	appendN(t, l, 1, 300) // about 30 segments, so 29 rotations
	segs := l.Segments()
	if err := l.TruncateFront(segs[12].FirstIndex); err != nil {
		t.Fatal(err)
	}
	if got := spareFiles(t, dir); len(got) != maxSpares {
		t.Fatalf("after 12 deleted segments and %d rotations: spares %v, want %d", len(segs)-1, got, maxSpares)
	}

	// Every rotation now starts in a spare: no segment file is created.
	next := uint64(301)
	for rotations := 0; rotations < maxSpares; {
		n := len(l.Segments())
		appendN(t, l, next, 1)
		next++
		if len(l.Segments()) != n {
			rotations++
		}
	}
	if got := spareFiles(t, dir); len(got) != 0 {
		t.Fatalf("after %d rotations: spares %v left", maxSpares, got)
	}
	if c := l.rotations.Load(); c != maxSpares {
		t.Fatalf("rotations counted %d, want %d", c, maxSpares)
	}

	// Those rotations make the next truncation keep as many again.
	segs = l.Segments()
	if err := l.TruncateFront(segs[len(segs)-2].FirstIndex); err != nil {
		t.Fatal(err)
	}
	if got := spareFiles(t, dir); len(got) != maxSpares {
		t.Fatalf("after a truncation following %d rotations: spares %v", maxSpares, got)
	}

	// One rotation later the next truncation gives the extra spares back.
	for n := len(l.Segments()); len(l.Segments()) == n; next++ {
		appendN(t, l, next, 1)
	}
	segs = l.Segments()
	if err := l.TruncateFront(segs[len(segs)-1].FirstIndex); err != nil {
		t.Fatal(err)
	}
	if got := spareFiles(t, dir); len(got) != 1 {
		t.Fatalf("after a truncation following one rotation: spares %v, want 1", got)
	}

	// A reopen finds the spare and the next rotation uses it.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, opts)
	if rep := l.OpenReport(); len(rep.Problems) != 0 || rep.CorruptRecords != 0 {
		t.Fatalf("reopen: %+v", rep)
	}
	for n := len(l.Segments()); len(l.Segments()) == n; next++ {
		appendN(t, l, next, 1)
	}
	if got := spareFiles(t, dir); len(got) != 0 {
		t.Fatalf("the rotation after the reopen left spares %v", got)
	}
	ents, gaps := readAll(t, l, l.FirstIndex(), 1<<20)
	checkRecords(t, ents, span(l.FirstIndex(), next-1))
	if len(gaps) != 0 {
		t.Fatalf("gaps: %v", gaps)
	}
}

func TestIsSpareName(t *testing.T) {
	for name, want := range map[string]bool{
		"spare-segment": true, "spare-segment.1": true, "spare-segment.12": true,
		"spare-segment.": false, "spare-segment.0": false, "spare-segment.x": false,
		"spare-segment1": false, "spare-segment.-1": false, "spare-segment.+1": false, "00000000000000000001.seg": false,
	} {
		if got := isSpareName(name); got != want {
			t.Errorf("isSpareName(%q) = %v, want %v", name, got, want)
		}
	}
}

// A truncation that stops half way (here a file that cannot be removed;
// a crash does the same) leaves the log one run of records: the files it
// did not get to are found again by the next Open as the oldest segments,
// and no older segment is left with a hole after it.
func TestInterruptedTruncationLeavesNoHole(t *testing.T) {
	dir := t.TempDir()
	fs := &faultFS{}
	opts := Options{Dir: dir, SegmentSize: 4 << 10, Sync: SyncAlways, fs: fs}
	l := openLog(t, opts)
	appendN(t, l, 1, 300) // about 30 segments: room for maxSpares spares
	segs := l.Segments()
	victims := segs[:maxSpares+4]
	fs.set(func(fs *faultFS) { fs.removeErr = map[string]error{victims[1].Path: syscall.EIO} })
	if err := l.TruncateFront(segs[len(victims)].FirstIndex); err == nil {
		t.Fatal("TruncateFront reported no error although a segment could not be removed")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	opts.fs = nil
	l = openLog(t, opts)
	if rep := l.OpenReport(); len(rep.Problems) != 0 || rep.CorruptRecords != 0 {
		t.Fatalf("reopen: %+v", rep)
	}
	if got, want := l.FirstIndex(), victims[1].FirstIndex; got != want {
		t.Fatalf("first index %d after the interrupted truncation, want %d (the segment that stayed)", got, want)
	}
	ents, gaps := readAll(t, l, l.FirstIndex(), 1<<20)
	checkRecords(t, ents, span(victims[1].FirstIndex, 300))
	if len(gaps) != 0 {
		t.Fatalf("gaps: %v", gaps)
	}
}
