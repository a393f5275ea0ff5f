package wal

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// FuzzOpenDamaged damages a closed log (bytes flipped anywhere in any
// segment file, the newest one cut anywhere) and opens it again. Open must
// succeed, readers must return only intact records, in order, never a
// damaged payload, every record the damage did not touch must still be
// there, and appends must continue right after the last record.
func FuzzOpenDamaged(f *testing.F) {
	const records = 40
	src := f.TempDir()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := Open(Options{Dir: src, SegmentSize: 2 << 10, Sync: SyncNone, Logger: discard})
	if err != nil {
		f.Fatal(err)
	}
	for i := uint64(1); i <= records; i++ {
		if _, err := l.Append(payload(i)); err != nil {
			f.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	// The pristine layout: per segment file, its frames' extents and indexes.
	type frame struct {
		from, to int64 // file offsets
		index    uint64
	}
	names, _ := filepath.Glob(filepath.Join(src, "*"+segSuffix))
	sort.Strings(names)
	pristine := make([][]byte, len(names))
	frames := make([][]frame, len(names))
	for i, n := range names {
		if pristine[i], err = os.ReadFile(n); err != nil {
			f.Fatal(err)
		}
		for pos := int64(segHeaderLen); pos+frameHeaderLen <= int64(len(pristine[i])); {
			h, ok := decodeFrameHeader(pristine[i][pos:])
			if !ok {
				f.Fatalf("pristine log: no frame at %d of %s", pos, n)
			}
			frames[i] = append(frames[i], frame{pos, pos + h.frameSize(), h.index})
			pos += h.frameSize()
		}
	}
	if len(names) < 3 {
		f.Fatalf("want several segments, got %d", len(names))
	}

	f.Add([]byte{0, 0, 40, 0x10}, uint32(0))
	f.Add([]byte{1, 0, 5, 0xff, 2, 1, 0, 0x01}, uint32(700))
	f.Add([]byte{byte(len(names) - 1), 0, 0, 0x80}, uint32(33))
	f.Add([]byte{}, uint32(segHeaderLen+frameHeaderLen+3))
	f.Fuzz(func(t *testing.T, flips []byte, cut uint32) {
		dir := t.TempDir()
		files := make([][]byte, len(pristine))
		for i := range pristine {
			files[i] = bytes.Clone(pristine[i])
		}
		touched := map[uint64]bool{}
		hit := func(seg int, from, to int64) {
			for _, fr := range frames[seg] {
				if fr.from < to && from < fr.to {
					touched[fr.index] = true
				}
			}
		}
		for ; len(flips) >= 4; flips = flips[4:] {
			seg := int(flips[0]) % len(files)
			off := int64(binary.LittleEndian.Uint16(flips[1:3])) % int64(len(files[seg]))
			x := flips[3]
			if x == 0 {
				x = 1
			}
			files[seg][off] ^= x
			hit(seg, off, off+1)
		}
		last := len(files) - 1
		if c := int64(cut); c > 0 && c < int64(len(files[last])) {
			files[last] = files[last][:c]
			hit(last, c, 1<<62)
		}
		for i, n := range names {
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(n)), files[i], 0o600); err != nil {
				t.Fatal(err)
			}
		}

		l, err := Open(Options{Dir: dir, SegmentSize: 2 << 10, Sync: SyncNone, Logger: discard})
		if err != nil {
			t.Fatalf("Open of a damaged log: %v", err)
		}
		defer l.Close()
		got := map[uint64]bool{}
		r, err := l.NewReader(0)
		if err != nil {
			t.Fatalf("NewReader: %v", err)
		}
		prev := uint64(0)
		for {
			ents, err := r.Read(1 << 10)
			if err != nil {
				t.Fatalf("Read at %d: %v", r.Next(), err)
			}
			if len(ents) == 0 {
				break
			}
			for _, e := range ents {
				if e.Index <= prev {
					t.Fatalf("record %d after %d", e.Index, prev)
				}
				if !bytes.Equal(e.Data, payload(e.Index)) {
					t.Fatalf("record %d: damaged payload %q returned", e.Index, trim(e.Data))
				}
				prev = e.Index
				got[e.Index] = true
			}
		}
		r.Close()
		for i := uint64(1); i <= records; i++ {
			if !touched[i] && !got[i] {
				t.Fatalf("record %d was not damaged but is gone (touched: %v)", i, touched)
			}
		}
		next := l.LastIndex() + 1
		idx, err := l.Append(payload(next))
		if err != nil || idx != next {
			t.Fatalf("Append after repair: index %d, %v; want %d", idx, err, next)
		}
		ents, _ := readAll(t, l, idx, 1<<10)
		if len(ents) != 1 || !bytes.Equal(ents[0].Data, payload(next)) {
			t.Fatalf("the record appended after repair reads back as %v", ents)
		}
	})
}
