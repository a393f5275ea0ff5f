package lineproto

import "strconv"

// Stats describes one scanned body.
type Stats struct {
	Lines   int // points: lines that are neither blank nor comments
	Stamped int // lines that had no timestamp and got one
	Bytes   int // length of the body as returned (Stamp) or scanned (Count)
}

// Stamp appends body to dst, adding " <ts>" to every point line that has no
// timestamp, and returns the result. The package doc lists the exact rules.
// Other bytes are copied unchanged (no re-serialization). If no line needs a
// timestamp it returns body itself (no copy; dst unused), so callers must
// handle the result aliasing body. dst must not overlap body. With enough
// capacity in dst, Stamp does not allocate.
func Stamp(dst, body []byte, ts int64) ([]byte, Stats) {
	var tsBuf [24]byte
	stamp := strconv.AppendInt(append(tsBuf[:0], ' '), ts, 10)

	var st Stats
	base := len(dst)
	copied := 0 // body[:copied] is already in dst
	for i := 0; i < len(body); {
		end, plain := nextLine(body, i)
		info := classify(body[i:end], plain)
		if info.kind == kindPoint {
			st.Lines++
			if info.stamp {
				at := end
				if body[end-1] == '\n' {
					// A stamped line ends in '\n' only at the end of the body,
					// where InfluxDB's scanner read that newline as inside a
					// quoted string (a line ending in an escaped newline is
					// never stamped). InfluxDB strips it before parsing the
					// line, so the stamp goes before it, where classify looked.
					at--
				}
				dst = append(dst, body[copied:at]...)
				dst = append(dst, stamp...)
				copied = at
				st.Stamped++
			}
		}
		i = end + 1
	}
	if st.Stamped == 0 {
		st.Bytes = len(body)
		return body, st
	}
	dst = append(dst, body[copied:]...)
	st.Bytes = len(dst) - base
	return dst, st
}

// Count scans body like Stamp without changing it: Lines is the number of
// point lines, Stamped is always 0 and Bytes is len(body).
func Count(body []byte) Stats {
	st := Stats{Bytes: len(body)}
	for i := 0; i < len(body); {
		end, _ := nextLine(body, i)
		if isPoint(body[i:end]) {
			st.Lines++
		}
		i = end + 1
	}
	return st
}
