package wal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// buildLog writes records 1..n with the given segment size and closes the log.
func buildLog(t *testing.T, segSize int64, n uint64) string {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir, SegmentSize: segSize, Sync: SyncNone})
	appendN(t, l, 1, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTornTailEveryOffset(t *testing.T) {
	const n = 30
	src := buildLog(t, 2<<10, n)
	files := segFiles(t, src)
	tailName := filepath.Base(files[len(files)-1])
	offs := frameOffsets(t, files[len(files)-1])
	if len(offs) < 2 {
		t.Fatalf("tail segment holds %d records; want at least 2", len(offs))
	}
	start := offs[len(offs)-1]
	fi, err := os.Stat(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	end := fi.Size()
	for cut := start; cut < end; cut++ {
		dir := copyDir(t, src)
		if err := os.Truncate(filepath.Join(dir, tailName), cut); err != nil {
			t.Fatal(err)
		}
		l, err := Open(Options{Dir: dir, SegmentSize: 2 << 10, Sync: SyncNone, Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("cut at %d: Open: %v", cut, err)
		}
		rep := l.OpenReport()
		if l.LastIndex() != n-1 || rep.TornBytes != cut-start || rep.CorruptRecords != 0 {
			t.Fatalf("cut at %d: LastIndex %d, report %+v; want LastIndex %d, %d torn bytes",
				cut, l.LastIndex(), rep, n-1, cut-start)
		}
		if idx, err := l.Append(payload(n)); err != nil || idx != n {
			t.Fatalf("cut at %d: Append = %d, %v; want index %d", cut, idx, err, n)
		}
		ents, gaps := readAll(t, l, 1, 1<<20)
		checkRecords(t, ents, span(1, n))
		if len(gaps) != 0 {
			t.Fatalf("cut at %d: gaps %v", cut, gaps)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		// The repair is durable: a second open finds nothing to do.
		l2 := openLog(t, Options{Dir: dir, SegmentSize: 2 << 10, Sync: SyncNone})
		if r := l2.OpenReport(); r.TornBytes != 0 || len(r.Problems) != 0 || r.LastIndex != n {
			t.Fatalf("cut at %d: second open report %+v", cut, r)
		}
		_ = l2.Close()
	}
}

func TestTornTailGarbageAfterLastRecord(t *testing.T) {
	for name, junk := range map[string][]byte{
		"zeros":         make([]byte, 100),
		"partial magic": {0x21, 0x49},
		"random":        []byte("\x01\x02not a frame at all, just bytes a crash left behind"),
	} {
		t.Run(name, func(t *testing.T) {
			dir := buildLog(t, 1<<20, 10)
			tail := segFiles(t, dir)[0]
			f, err := os.OpenFile(tail, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(junk); err != nil {
				t.Fatal(err)
			}
			_ = f.Close()
			l := openLog(t, Options{Dir: dir})
			if rep := l.OpenReport(); rep.TornBytes != int64(len(junk)) || rep.LastIndex != 10 {
				t.Fatalf("report %+v, want %d torn bytes", rep, len(junk))
			}
			appendN(t, l, 11, 5)
			ents, _ := readAll(t, l, 1, 1<<20)
			checkRecords(t, ents, span(1, 15))
		})
	}
}

// flipCase damages one byte of the frame at file position pos.
type flipCase struct {
	name string
	at   func(pos int64) int64
}

var flipCases = []flipCase{
	{"payload byte", func(p int64) int64 { return p + frameHeaderLen + 7 }},
	{"magic", func(p int64) int64 { return p }},
	{"length field", func(p int64) int64 { return p + 5 }},
	{"length field high byte", func(p int64) int64 { return p + 7 }},
	{"index field", func(p int64) int64 { return p + 8 }},
	{"payload checksum", func(p int64) int64 { return p + 17 }},
	{"header checksum", func(p int64) int64 { return p + 22 }},
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x10
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestBitFlipSealedSegment(t *testing.T) {
	for _, tc := range flipCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := buildLog(t, 4<<10, 100)
			seg := segFiles(t, dir)[1] // sealed
			offs := frameOffsets(t, seg)
			base, _ := parseSegmentName(seg)
			victim := base + 2
			flipByte(t, seg, tc.at(offs[2]))

			l := openLog(t, Options{Dir: dir, SegmentSize: 4 << 10, CacheBytes: 1 << 10})
			if rep := l.OpenReport(); rep.LastIndex != 100 {
				t.Fatalf("report %+v", rep)
			}
			for _, maxBytes := range []int{1, 1 << 20} {
				ents, gaps := readAll(t, l, 1, maxBytes)
				checkRecords(t, ents, span(1, 100, victim))
				if len(gaps) != 1 || gaps[0] != (Gap{From: victim, To: victim, Reason: GapCorrupt}) {
					t.Fatalf("maxBytes %d: gaps %v, want record %d corrupt", maxBytes, gaps, victim)
				}
			}
			// Seeking to the damaged record, or just past it, works too.
			r, err := l.NewReader(victim)
			if err != nil {
				t.Fatal(err)
			}
			ents, err := r.Read(1)
			if err != nil || len(ents) != 1 || ents[0].Index != victim+1 {
				t.Fatalf("read from damaged record: %v, %v", firstIdx(ents), err)
			}
			if st := l.Stats(); st.CorruptRecords != 1 {
				t.Fatalf("Stats.CorruptRecords %d, want 1 (counted once across readers)", st.CorruptRecords)
			}
			appendN(t, l, 101, 1)
		})
	}
}

func TestBitFlipTailSegment(t *testing.T) {
	for _, tc := range flipCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := buildLog(t, 1<<20, 20)
			seg := segFiles(t, dir)[0]
			offs := frameOffsets(t, seg)
			flipByte(t, seg, tc.at(offs[9])) // record 10 of 20

			l := openLog(t, Options{Dir: dir})
			rep := l.OpenReport()
			if rep.LastIndex != 20 || rep.CorruptRecords != 1 || rep.TornBytes != 0 {
				t.Fatalf("report %+v; want record 10 reported corrupt, nothing torn", rep)
			}
			appendN(t, l, 21, 3)
			ents, gaps := readAll(t, l, 1, 1<<20)
			checkRecords(t, ents, span(1, 23, 10))
			if len(gaps) != 1 || gaps[0] != (Gap{From: 10, To: 10, Reason: GapCorrupt}) {
				t.Fatalf("gaps %v", gaps)
			}
		})
	}
}

func TestTruncatedMiddleSegment(t *testing.T) {
	dir := buildLog(t, 4<<10, 100)
	files := segFiles(t, dir)
	mid := files[1]
	offs := frameOffsets(t, mid)
	base, _ := parseSegmentName(mid)
	next, _ := parseSegmentName(files[2])
	// Cut in the middle of the fourth record: records base+3 .. next-1 are gone.
	if err := os.Truncate(mid, offs[3]+10); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, Options{Dir: dir, SegmentSize: 4 << 10})
	ents, gaps := readAll(t, l, 1, 1<<20)
	checkRecords(t, ents, span(1, 100, span(base+3, next-1)...))
	if len(gaps) != 1 || gaps[0].From != base+3 || gaps[0].To != next-1 {
		t.Fatalf("gaps %v, want %d..%d", gaps, base+3, next-1)
	}
}

func TestMissingSegment(t *testing.T) {
	dir := buildLog(t, 4<<10, 100)
	files := segFiles(t, dir)
	base, _ := parseSegmentName(files[2])
	next, _ := parseSegmentName(files[3])
	if err := os.Remove(files[2]); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, Options{Dir: dir, SegmentSize: 4 << 10})
	ents, gaps := readAll(t, l, 1, 1<<20)
	checkRecords(t, ents, span(1, 100, span(base, next-1)...))
	if len(gaps) != 1 || gaps[0] != (Gap{From: base, To: next - 1, Reason: GapMissing}) {
		t.Fatalf("gaps %v, want %d..%d missing", gaps, base, next-1)
	}
	// Seeking into the missing range lands after it.
	r, err := l.NewReader(base + 1)
	if err != nil {
		t.Fatal(err)
	}
	e, err := r.Read(1)
	if err != nil || len(e) != 1 || e[0].Index != next {
		t.Fatalf("read from inside the missing range: %v, %v", firstIdx(e), err)
	}
}

func TestEmptyAndTornSegmentFiles(t *testing.T) {
	dir := buildLog(t, 4<<10, 100)
	files := segFiles(t, dir)
	base1, _ := parseSegmentName(files[1])
	// An empty file between two segments, an empty one after the tail and
	// a half-written header after that (an interrupted rotation).
	empties := []string{segmentName(base1 + 1), segmentName(101)}
	for _, name := range empties {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h := segHeader{baseIndex: 102, baseOffset: 1}.encode()
	if err := os.WriteFile(filepath.Join(dir, segmentName(102)), h[:20], 0o600); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, Options{Dir: dir, SegmentSize: 4 << 10})
	rep := l.OpenReport()
	if rep.LastIndex != 100 || rep.TornBytes != 20 || len(rep.Problems) != 3 {
		t.Fatalf("report %+v", rep)
	}
	if n := len(segFiles(t, dir)); n != len(files) {
		t.Fatalf("%d segment files, want the original %d", n, len(files))
	}
	appendN(t, l, 101, 100) // rotates through the names the junk files had
	ents, gaps := readAll(t, l, 1, 1<<20)
	checkRecords(t, ents, span(1, 200))
	if len(gaps) != 0 {
		t.Fatalf("gaps %v", gaps)
	}
}

func TestGarbageFilesInDir(t *testing.T) {
	dir := buildLog(t, 4<<10, 50)
	for name, data := range map[string]string{
		"notes.txt":                "hello",
		"0000000000000000000x.seg": "not a segment name",
		"12.seg":                   "too short a name",
		lockFileName:               "123\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "cursors"), 0o700); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, Options{Dir: dir, SegmentSize: 4 << 10})
	rep := l.OpenReport()
	if rep.LastIndex != 50 || len(rep.Problems) != 3 {
		t.Fatalf("report %+v; want the 3 unknown files reported", rep)
	}
	for _, p := range rep.Problems {
		if !strings.Contains(p, "unknown file") {
			t.Fatalf("problem %q", p)
		}
	}
	ents, _ := readAll(t, l, 1, 1<<20)
	checkRecords(t, ents, span(1, 50))
}

func TestDamagedSegmentHeader(t *testing.T) {
	dir := buildLog(t, 4<<10, 100)
	files := segFiles(t, dir)
	flipByte(t, files[1], 10)            // sealed segment: base index field
	flipByte(t, files[len(files)-1], 20) // tail: base offset field
	l := openLog(t, Options{Dir: dir, SegmentSize: 4 << 10})
	if rep := l.OpenReport(); rep.LastIndex != 100 || len(rep.Problems) != 3 {
		t.Fatalf("report %+v; want two damaged headers and one rewrite reported", rep)
	}
	ents, gaps := readAll(t, l, 1, 1<<20)
	checkRecords(t, ents, span(1, 100))
	if len(gaps) != 0 {
		t.Fatalf("gaps %v", gaps)
	}
	appendN(t, l, 101, 100)
	ents, _ = readAll(t, l, 1, 1<<20)
	checkRecords(t, ents, span(1, 200))
}
