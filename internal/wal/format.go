package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// On-disk layout, little-endian throughout.
//
// A segment file is named <base index, 20 decimal digits>.seg and starts with a
// 32-byte header:
//
//	0:4   segment magic "IGWS"
//	4:6   format version (1)
//	6:8   flags (0)
//	8:16  base index: index of the first record written to this segment
//	16:24 base offset: logical log offset of the first byte after the header
//	24:28 reserved (0)
//	28:32 CRC32C of bytes 0:28
//
// Records follow back to back as frames, each a 24-byte header and the payload:
//
//	0:4   frame magic
//	4:8   payload length
//	8:16  record index
//	16:20 CRC32C of the payload
//	20:24 CRC32C of bytes 0:20
//
// The header has its own CRC so that a damaged length field is detected before
// it is trusted, and the index is in every frame so that a scan that lost its
// place can resynchronise on the next valid frame and know exactly which
// records it skipped.
const (
	segHeaderLen   = 32
	frameHeaderLen = 24
	formatVersion  = 1
	segMagic       = "IGWS"
	frameMagic     = uint32(0x57474921) // bytes "!IGW" on disk
	segSuffix      = ".seg"
	lockFileName   = "LOCK" // LockDir's file; Open ignores it

	// MaxRecordSize is the largest payload Append accepts. It bounds the
	// allocation a reader makes for one record, so that a damaged length can
	// never make it allocate gigabytes.
	MaxRecordSize = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// segHeader is the decoded segment file header.
type segHeader struct {
	baseIndex  uint64
	baseOffset int64
}

func (h segHeader) encode() []byte {
	b := make([]byte, segHeaderLen)
	copy(b[0:4], segMagic)
	binary.LittleEndian.PutUint16(b[4:6], formatVersion)
	binary.LittleEndian.PutUint64(b[8:16], h.baseIndex)
	binary.LittleEndian.PutUint64(b[16:24], uint64(h.baseOffset))
	binary.LittleEndian.PutUint32(b[28:32], crc(b[0:28]))
	return b
}

func decodeSegHeader(b []byte) (segHeader, error) {
	if len(b) < segHeaderLen {
		return segHeader{}, fmt.Errorf("segment header: %d of %d bytes", len(b), segHeaderLen)
	}
	if string(b[0:4]) != segMagic {
		return segHeader{}, fmt.Errorf("segment header: bad magic %q", b[0:4])
	}
	if got, want := binary.LittleEndian.Uint32(b[28:32]), crc(b[0:28]); got != want {
		return segHeader{}, fmt.Errorf("segment header: checksum %08x, want %08x", got, want)
	}
	if v := binary.LittleEndian.Uint16(b[4:6]); v != formatVersion {
		return segHeader{}, fmt.Errorf("segment header: unsupported format version %d", v)
	}
	return segHeader{
		baseIndex:  binary.LittleEndian.Uint64(b[8:16]),
		baseOffset: int64(binary.LittleEndian.Uint64(b[16:24])),
	}, nil
}

// frameHeader is a decoded record frame header.
type frameHeader struct {
	length  uint32
	index   uint64
	dataCRC uint32
}

func (h frameHeader) frameSize() int64 { return frameHeaderLen + int64(h.length) }

func putFrameHeader(b []byte, index uint64, payload []byte) {
	binary.LittleEndian.PutUint32(b[0:4], frameMagic)
	binary.LittleEndian.PutUint32(b[4:8], uint32(len(payload)))
	binary.LittleEndian.PutUint64(b[8:16], index)
	binary.LittleEndian.PutUint32(b[16:20], crc(payload))
	binary.LittleEndian.PutUint32(b[20:24], crc(b[0:20]))
}

// decodeFrameHeader returns ok=false unless b starts with a frame header whose
// magic and header checksum are right and whose length is plausible.
func decodeFrameHeader(b []byte) (frameHeader, bool) {
	if len(b) < frameHeaderLen || binary.LittleEndian.Uint32(b[0:4]) != frameMagic {
		return frameHeader{}, false
	}
	if binary.LittleEndian.Uint32(b[20:24]) != crc(b[0:20]) {
		return frameHeader{}, false
	}
	h := frameHeader{
		length:  binary.LittleEndian.Uint32(b[4:8]),
		index:   binary.LittleEndian.Uint64(b[8:16]),
		dataCRC: binary.LittleEndian.Uint32(b[16:20]),
	}
	if h.length > MaxRecordSize || h.index == 0 {
		return frameHeader{}, false
	}
	return h, true
}

func segmentName(base uint64) string { return fmt.Sprintf("%020d%s", base, segSuffix) }

// spareName is the file name of a deleted segment kept for reuse
// (recycle.go), and with ".1", ".2", ... appended of the others. It does
// not end in segSuffix: a spare is not a segment of the log, and tools
// that list the segments by that suffix must not see it.
const spareName = "spare-segment"

// parseSegmentName returns the base index a segment file name encodes.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(filepath.Base(name), segSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}

// frameScanner reads frames sequentially from a segment file through a
// read-ahead window, so that small records cost no system call each.
type frameScanner struct {
	f      io.ReaderAt
	end    int64 // file position where readable data ends
	win    []byte
	winPos int64 // file position of win[0]
	buf    []byte
	// minPassed is the lowest index of a valid frame resync passed over
	// because its index was not past the one asked for (0: none).
	minPassed uint64
}

// olderSkipped reports whether resync passed over a valid frame whose
// index is below base: a frame of an older segment (recycle.go).
func (s *frameScanner) olderSkipped(base uint64) bool {
	return s.minPassed != 0 && s.minPassed < base
}

const scanWindow = 256 << 10

func newFrameScanner(f io.ReaderAt, end int64) *frameScanner {
	return &frameScanner{f: f, end: end, buf: make([]byte, scanWindow)}
}

// bytesAt returns n bytes at file position pos, reading more of the file into
// the window when needed. The slice is valid until the next call. It returns
// io.ErrUnexpectedEOF if the data ends before pos+n.
func (s *frameScanner) bytesAt(pos int64, n int) ([]byte, error) {
	if pos+int64(n) > s.end {
		return nil, io.ErrUnexpectedEOF
	}
	if pos >= s.winPos && pos+int64(n) <= s.winPos+int64(len(s.win)) {
		o := pos - s.winPos
		return s.win[o : o+int64(n)], nil
	}
	size := max(n, scanWindow)
	if rest := s.end - pos; int64(size) > rest {
		size = int(rest)
	}
	if cap(s.buf) < size {
		s.buf = make([]byte, size)
	}
	b := s.buf[:size]
	m, err := s.f.ReadAt(b, pos)
	if m < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		s.win = nil
		return nil, err
	}
	s.win, s.winPos = b[:m], pos
	if cap(s.buf) > 4*scanWindow {
		// Do not keep a window sized for one huge record.
		s.buf = make([]byte, scanWindow)
	}
	return s.win[:n], nil
}

// frameAt decodes and verifies the frame at pos. ok=false means the bytes there
// are not a whole valid frame (torn, damaged or not a frame at all); err is
// only set for I/O errors other than running out of data.
func (s *frameScanner) frameAt(pos int64, wantPayload bool) (h frameHeader, payload []byte, ok bool, err error) {
	hb, err := s.bytesAt(pos, frameHeaderLen)
	if err != nil {
		return h, nil, false, ignoreEOF(err)
	}
	h, ok = decodeFrameHeader(hb)
	if !ok {
		return h, nil, false, nil
	}
	if pos+h.frameSize() > s.end {
		return h, nil, false, nil
	}
	if !wantPayload {
		return h, nil, true, nil
	}
	payload, err = s.bytesAt(pos+frameHeaderLen, int(h.length))
	if err != nil {
		return h, nil, false, ignoreEOF(err)
	}
	if crc(payload) != h.dataCRC {
		return h, nil, false, nil
	}
	return h, payload, true, nil
}

// appendPayload verifies the payload of the frame at pos (header h) and
// appends it to dst. Large payloads are read straight into dst rather than
// through the window, so a 25 MB record is not held twice.
func (s *frameScanner) appendPayload(dst []byte, pos int64, h frameHeader) ([]byte, bool, error) {
	n, at := int(h.length), pos+frameHeaderLen
	if at+int64(n) > s.end {
		return dst, false, nil
	}
	if n <= scanWindow {
		b, err := s.bytesAt(at, n)
		if err != nil {
			return dst, false, ignoreEOF(err)
		}
		if crc(b) != h.dataCRC {
			return dst, false, nil
		}
		return append(dst, b...), true, nil
	}
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	if m, err := s.f.ReadAt(dst[start:], at); m < n {
		return dst[:start], false, ignoreEOF(err)
	}
	if crc(dst[start:]) != h.dataCRC {
		return dst[:start], false, nil
	}
	return dst, true, nil
}

// resync searches forward from pos for the next valid frame (header and
// payload checksums right) whose index is greater than after. It returns the
// position of that frame, or ok=false if there is none before the end.
func (s *frameScanner) resync(pos int64, after uint64) (int64, frameHeader, bool, error) {
	var magic [4]byte
	binary.LittleEndian.PutUint32(magic[:], frameMagic)
	for p := pos; p+frameHeaderLen <= s.end; {
		chunk := min(int64(scanWindow), s.end-p)
		b, err := s.bytesAt(p, int(chunk))
		if err != nil {
			return 0, frameHeader{}, false, ignoreEOF(err)
		}
		i := bytes.Index(b, magic[:])
		if i < 0 {
			// Keep the last 3 bytes: the magic may straddle two chunks.
			p += max(chunk-3, 1)
			continue
		}
		cand := p + int64(i)
		h, _, ok, err := s.frameAt(cand, true)
		if err != nil {
			return 0, frameHeader{}, false, err
		}
		if ok && h.index > after {
			return cand, h, true, nil
		}
		if ok && (s.minPassed == 0 || h.index < s.minPassed) {
			s.minPassed = h.index
		}
		p = cand + 1
	}
	return 0, frameHeader{}, false, nil
}

func ignoreEOF(err error) error {
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return nil
	}
	return err
}
