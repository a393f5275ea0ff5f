package lineproto

import (
	"bytes"
	"strconv"
)

// Stats describes one scanned body.
type Stats struct {
	Lines   int // points: lines that are neither blank nor comments
	Stamped int // lines that had no timestamp and got one
	// Unstampable counts point lines without a timestamp that Stamp left
	// alone although InfluxDB may accept them, because no stamp fits (see
	// the package doc): their field set ends in a lone backslash (a string
	// value followed by stray bytes, such as `m s="x"\`), which would
	// escape an added space, or a '\n' of the line's own follows the
	// field set. InfluxDB stamps such a line itself on arrival; callers
	// that need identical replicas can reject the write.
	Unstampable int
	Bytes       int // length of the body as returned (Stamp) or scanned (Count)
	// OpenEnd reports that the body's last line ends only because the body
	// does: it finishes in an escaping backslash or inside a quoted string
	// (InfluxDB takes that for a last line). Followed by another body, it
	// would swallow that body's first line, so such a body must be sent
	// last in any request that joins bodies.
	OpenEnd bool
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
	last := 0   // start of the last line
	plainBody := isPlain(body)
	for i := 0; i < len(body); {
		end, plain := lineEnd(body, i, plainBody)
		last = i
		info := stampInfo(body[i:end], plain)
		if info.kind == kindPoint {
			st.Lines++
			if info.lone {
				st.Unstampable++
			}
			if info.stamp {
				at := i + info.at
				dst = append(dst, body[copied:at]...)
				dst = append(dst, stamp...)
				copied = at
				st.Stamped++
			}
		}
		i = end + 1
	}
	st.OpenEnd = openEnd(body[last:])
	if st.Stamped == 0 {
		st.Bytes = len(body)
		return body, st
	}
	dst = append(dst, body[copied:]...)
	st.Bytes = len(dst) - base
	return dst, st
}

// NeedsStamp reports whether Stamp would stamp any line of body. When it
// would not, st is what Stamp would return with body itself, so a caller
// can skip sizing a buffer for Stamp; when it would, st is incomplete and
// the caller calls Stamp. It stops at the first line that needs a stamp,
// so calling Stamp after it costs at most the scan of that prefix again.
func NeedsStamp(body []byte) (st Stats, needs bool) {
	last := 0
	plainBody := isPlain(body)
	for i := 0; i < len(body); {
		end, plain := lineEnd(body, i, plainBody)
		last = i
		info := stampInfo(body[i:end], plain)
		if info.kind == kindPoint {
			if info.stamp {
				return st, true
			}
			st.Lines++
			if info.lone {
				st.Unstampable++
			}
		}
		i = end + 1
	}
	st.OpenEnd = openEnd(body[last:])
	st.Bytes = len(body)
	return st, false
}

// openEnd reports whether the last line of a body (with its '\n', if any)
// would run on into a following line. Only quotes and backslashes can move
// a line's end, so the common line needs no rescan. A stamp appended to the
// line does not change the answer: it adds neither.
func openEnd(line []byte) bool {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	if bytes.IndexByte(line, '"') < 0 && bytes.IndexByte(line, '\\') < 0 {
		return false
	}
	var buf [512]byte // most lines fit: no allocation
	probe := append(append(buf[:0], line...), '\n', 'x')
	end, _ := nextLine(probe, 0)
	return end != len(line)
}

// Count scans body like Stamp without changing it: Lines is the number of
// point lines, Stamped is always 0 and Bytes is len(body).
func Count(body []byte) Stats {
	st := Stats{Bytes: len(body)}
	last := 0
	plainBody := isPlain(body)
	for i := 0; i < len(body); {
		end, _ := lineEnd(body, i, plainBody)
		last = i
		if isPoint(body[i:end]) {
			st.Lines++
		}
		i = end + 1
	}
	st.OpenEnd = openEnd(body[last:])
	return st
}

// Quoted calls fn, in order, with each point line of body as InfluxDB
// quotes it when it refuses the line ("unable to parse '<text>': ..."):
// without leading whitespace and without a '\n' that ends the line's own
// bytes, which InfluxDB strips before parsing. stamped reports that Stamp
// adds a timestamp to the line; InfluxDB then quotes text + " " + the
// timestamp, because Stamp puts the stamp right after those bytes. It stops
// when fn returns false. It is for error paths: the slices alias body.
func Quoted(body []byte, fn func(text []byte, stamped bool) bool) {
	plainBody := isPlain(body)
	for i := 0; i < len(body); {
		end, plain := lineEnd(body, i, plainBody)
		line := body[i:end]
		info := classify(line, plain)
		if info.kind == kindPoint {
			s := skipWS(line, 0)
			if line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			}
			if !fn(line[s:], info.stamp) {
				return
			}
		}
		i = end + 1
	}
}

// TimeRange returns the smallest and largest timestamp of body's point
// lines as written (in the body's precision), and how many point lines
// carry one. Lines without a readable timestamp are left out: they are
// ones InfluxDB refuses anyway, since influxgate stamps every line that
// has none before it is logged.
func TimeRange(body []byte) (minTS, maxTS int64, n int) {
	plainBody := isPlain(body)
	for i := 0; i < len(body); {
		end, plain := lineEnd(body, i, plainBody)
		line := body[i:end]
		i = end + 1
		info := classify(line, plain)
		if info.kind != kindPoint || info.ts1 <= info.ts0 {
			continue
		}
		ts, ok := parseTimestamp(line[info.ts0:info.ts1])
		if !ok {
			continue
		}
		if n == 0 || ts < minTS {
			minTS = ts
		}
		if n == 0 || ts > maxTS {
			maxTS = ts
		}
		n++
	}
	return minTS, maxTS, n
}
