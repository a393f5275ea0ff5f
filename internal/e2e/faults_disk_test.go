package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"

	"github.com/influxgate/influxgate/internal/record"
)

// mountTmpfs mounts a tmpfs of the given size (e.g. "128m") on a new temp
// dir, for the log's disk-full fault. It needs root and a kernel that
// allows the mount; without them it returns ok=false and the caller runs
// without the disk-full step (and says so).
func mountTmpfs(t testing.TB, size string) (dir string, ok bool) {
	t.Helper()
	dir = t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Logf("cannot mount a tmpfs for the disk-full fault (%v: %s); running on the normal temp dir", err, bytes.TrimSpace(out))
		return dir, false
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir, true
}

// fillDisk writes a ballast file in dir until the file system is full and
// returns its path; removing it frees the space again.
func fillDisk(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "ballast")
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("ballast: %v", err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			t.Fatalf("ballast: %v", err)
		}
	}
	// Fill the last partial block too.
	for _, n := range []int{64 << 10, 4 << 10, 512, 1} {
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				break
			}
		}
	}
	return path
}

// logFrame is one record frame of a log segment file, read with the
// on-disk format documented in internal/wal/format.go: a 32-byte segment
// header, then frames of a 24-byte header (magic, payload length, index,
// payload CRC, header CRC) and the payload, an encoded record.Record.
type logFrame struct {
	off     int64 // file offset of the frame header
	index   uint64
	payload []byte
}

const (
	walSegHeaderLen   = 32
	walFrameHeaderLen = 24
)

// newestSegment returns the newest segment file of a listener's log.
func newestSegment(t testing.TB, logDir string) string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(logDir, "*.seg"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no log segments in %s (%v)", logDir, err)
	}
	sort.Strings(segs) // names are zero-padded base indexes
	return segs[len(segs)-1]
}

// readFrames parses the frames of a segment file up to the first damage.
func readFrames(t testing.TB, path string) []logFrame {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []logFrame
	if len(data) < walSegHeaderLen {
		return nil
	}
	// The segment header's base index (after the magic and version) is the
	// first frame's index; a frame whose index does not follow is where the
	// data ends: a reused segment file holds an older segment's frames
	// after its own (internal/wal/recycle.go).
	next := binary.LittleEndian.Uint64(data[8:16])
	for pos := int64(walSegHeaderLen); pos+walFrameHeaderLen <= int64(len(data)); next++ {
		h := data[pos : pos+walFrameHeaderLen]
		n := int64(binary.LittleEndian.Uint32(h[4:8]))
		if pos+walFrameHeaderLen+n > int64(len(data)) || binary.LittleEndian.Uint64(h[8:16]) != next {
			break
		}
		out = append(out, logFrame{off: pos, index: binary.LittleEndian.Uint64(h[8:16]),
			payload: data[pos+walFrameHeaderLen : pos+walFrameHeaderLen+n]})
		pos += walFrameHeaderLen + n
	}
	return out
}

// loadSeqs returns the sequence numbers of the load points in a record.
func loadSeqs(t testing.TB, payload []byte) []int64 {
	t.Helper()
	rec, err := record.Decode(payload)
	if err != nil {
		t.Fatalf("decode a log record: %v", err)
	}
	var out []int64
	for _, line := range bytes.Split(rec.Body, []byte{'\n'}) {
		if !bytes.HasPrefix(line, []byte(loadMeasurement+",")) {
			continue
		}
		ts, err := strconv.ParseInt(string(line[bytes.LastIndexByte(line, ' ')+1:]), 10, 64)
		if err == nil {
			out = append(out, ts-loadBase)
		}
	}
	return out
}

// flipRecord flips one bit in the payload of the frame in the middle of the
// newest segment (not its last frame, so that this is damage in the middle
// of the log, not a torn tail) and returns the load points it held.
func flipRecord(t testing.TB, logDir string) (seqs []int64, ok bool) {
	t.Helper()
	path := newestSegment(t, logDir)
	frames := readFrames(t, path)
	if len(frames) < 3 {
		return nil, false
	}
	fr := frames[len(frames)/2]
	seqs = loadSeqs(t, fr.payload)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	at := fr.off + walFrameHeaderLen + int64(len(fr.payload))/2
	b := []byte{fr.payload[len(fr.payload)/2] ^ 0x10}
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
	return seqs, true
}

// truncateLog cuts the newest segment in the middle of the frame two thirds
// into it and returns the load points of every record cut off.
func truncateLog(t testing.TB, logDir string) (seqs []int64, ok bool) {
	t.Helper()
	path := newestSegment(t, logDir)
	frames := readFrames(t, path)
	if len(frames) < 3 {
		return nil, false
	}
	cut := len(frames) * 2 / 3
	for _, fr := range frames[cut:] {
		seqs = append(seqs, loadSeqs(t, fr.payload)...)
	}
	if err := os.Truncate(path, frames[cut].off+walFrameHeaderLen/2); err != nil {
		t.Fatal(err)
	}
	return seqs, true
}
