package backend

import (
	"io"
	"net"
)

var newline = []byte{'\n'}

// bodiesReader streams several record bodies as one request body without
// copying them, inserting a newline after any body that lacks one so that
// the last line of one record never runs into the first of the next.
type bodiesReader struct {
	parts [][]byte
	size  int64
}

func newBodiesReader(bodies [][]byte) *bodiesReader {
	r := &bodiesReader{parts: make([][]byte, 0, len(bodies)+1)}
	for _, b := range bodies {
		if len(b) == 0 {
			continue
		}
		r.parts = append(r.parts, b)
		r.size += int64(len(b))
		if b[len(b)-1] != '\n' {
			r.parts = append(r.parts, newline)
			r.size++
		}
	}
	return r
}

func (r *bodiesReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(r.parts) > 0 {
		c := copy(p[n:], r.parts[0])
		n += c
		if c == len(r.parts[0]) {
			r.parts = r.parts[1:]
		} else {
			r.parts[0] = r.parts[0][c:]
		}
	}
	if n == 0 && len(r.parts) == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Close makes a bodiesReader an io.ReadCloser, so that net/http does not
// wrap it in io.NopCloser: the connection's ReadFrom must see the
// bodiesReader itself to write its parts with one writev.
func (r *bodiesReader) Close() error { return nil }

// remaining is how many bytes are left to read.
func (r *bodiesReader) remaining() int64 {
	var n int64
	for _, p := range r.parts {
		n += int64(len(p))
	}
	return n
}

// WriteTo writes the remaining parts to w in one net.Buffers write: a
// single writev on a TCP connection, one Write per part elsewhere.
func (r *bodiesReader) WriteTo(w io.Writer) (int64, error) {
	bufs := net.Buffers(r.parts)
	n, err := bufs.WriteTo(w)
	// WriteTo consumed what it wrote; keep the rest for a retry of Read.
	r.parts = bufs
	return n, err
}
