package wal

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// payload returns the deterministic test payload of record i: its size varies
// with i so that frames do not line up, and its bytes name the record.
func payload(i uint64) []byte {
	head := fmt.Sprintf("record %d;", i)
	n := 40 + int(i*37%300)
	b := bytes.Repeat([]byte{byte('a' + i%26)}, n)
	return append([]byte(head), b...)
}

func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func openLog(t *testing.T, opts Options) *Log {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", opts.Dir, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// appendN appends records first..first+n-1 made by payload and checks their
// indexes.
func appendN(t *testing.T, l *Log, first, n uint64) {
	t.Helper()
	for i := first; i < first+n; i++ {
		idx, err := l.Append(payload(i))
		if err != nil {
			t.Fatalf("Append(record %d): %v", i, err)
		}
		if idx != i {
			t.Fatalf("Append(record %d) returned index %d", i, idx)
		}
	}
}

// readAll reads from index `from` to the end with the given maxBytes and
// returns copies of the entries and every gap reported.
func readAll(t *testing.T, l *Log, from uint64, maxBytes int) ([]Entry, []Gap) {
	t.Helper()
	r, err := l.NewReader(from)
	if err != nil {
		t.Fatalf("NewReader(%d): %v", from, err)
	}
	defer r.Close()
	var out []Entry
	for {
		ents, err := r.Read(maxBytes)
		if err != nil {
			t.Fatalf("Read at %d: %v", r.Next(), err)
		}
		if len(ents) == 0 {
			break
		}
		for _, e := range ents {
			e.Data = bytes.Clone(e.Data)
			out = append(out, e)
		}
	}
	return out, r.Gaps()
}

// checkRecords asserts that ents are exactly the records with the given
// indexes, in order, with the payloads payload() makes.
func checkRecords(t *testing.T, ents []Entry, want []uint64) {
	t.Helper()
	if len(ents) != len(want) {
		t.Fatalf("got %d records, want %d (first %v, last %v)", len(ents), len(want), firstIdx(ents), lastIdx(ents))
	}
	for i, e := range ents {
		if e.Index != want[i] {
			t.Fatalf("record %d: index %d, want %d", i, e.Index, want[i])
		}
		if !bytes.Equal(e.Data, payload(e.Index)) {
			t.Fatalf("record %d: payload %q, want %q", e.Index, trim(e.Data), trim(payload(e.Index)))
		}
	}
}

func firstIdx(e []Entry) any {
	if len(e) == 0 {
		return "none"
	}
	return e[0].Index
}

func lastIdx(e []Entry) any {
	if len(e) == 0 {
		return "none"
	}
	return e[len(e)-1].Index
}

func trim(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// span returns [from, to] without the indexes in skip.
func span(from, to uint64, skip ...uint64) []uint64 {
	var out []uint64
next:
	for i := from; i <= to; i++ {
		for _, s := range skip {
			if s == i {
				continue next
			}
		}
		out = append(out, i)
	}
	return out
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// frameOffsets returns the file positions of every frame in a segment file,
// by walking its (undamaged) frames.
func frameOffsets(t *testing.T, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for pos := int64(segHeaderLen); pos+frameHeaderLen <= int64(len(b)); {
		h, ok := decodeFrameHeader(b[pos:])
		if !ok {
			t.Fatalf("%s: no frame at %d", path, pos)
		}
		out = append(out, pos)
		pos += h.frameSize()
	}
	return out
}

// copyDir copies the regular files of src into a new temp dir.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
