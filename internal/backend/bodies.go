package backend

var newline = []byte{'\n'}

// bodyParts lists several record bodies as the parts of one request body,
// without copying them, with a newline after any body that lacks one so
// that the last line of one record never runs into the first of the next.
// size is the request body's length.
func bodyParts(bodies [][]byte) (parts [][]byte, size int64) {
	parts = make([][]byte, 0, len(bodies)+1)
	for _, b := range bodies {
		if len(b) == 0 {
			continue
		}
		parts = append(parts, b)
		size += int64(len(b))
		if b[len(b)-1] != '\n' {
			parts = append(parts, newline)
			size++
		}
	}
	return parts, size
}
