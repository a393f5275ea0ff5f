package backend

import "io"

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

// WriteTo lets io.Copy write each part straight to the connection.
func (r *bodiesReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for len(r.parts) > 0 {
		n, err := w.Write(r.parts[0])
		total += int64(n)
		if err != nil {
			r.parts[0] = r.parts[0][n:]
			return total, err
		}
		r.parts = r.parts[1:]
	}
	return total, nil
}
