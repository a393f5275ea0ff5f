package lineproto

import "bytes"

// Key splits a point line into its measurement and its tag section, as
// InfluxDB 1.x's scanKey does: leading whitespace is skipped, the key ends
// at the first space not preceded by a backslash, and the measurement at
// the first comma not preceded by a backslash. Both are returned escaped,
// as they appear in the line (Unescape them to compare with names in
// queries); tags is empty when the line has none. For a line InfluxDB would
// refuse, what Key returns is still a deterministic function of the line.
func Key(line []byte) (measurement, tags []byte) {
	s := skipWS(line, 0)
	key := line[s:]
	if e := keyEnd(line, s); e >= 0 {
		key = line[s:e]
	}
	if i := unescapedIndex(key, ','); i >= 0 {
		return key[:i], key[i+1:]
	}
	return key, nil
}

// TagValue returns the value of tag k in a tag section as Key returns it,
// unescaped, and whether the tag is there. k is the tag key unescaped.
func TagValue(tags []byte, k []byte) ([]byte, bool) {
	for len(tags) > 0 {
		end := unescapedIndex(tags, ',')
		pair := tags
		if end >= 0 {
			pair, tags = tags[:end], tags[end+1:]
		} else {
			tags = nil
		}
		eq := unescapedIndex(pair, '=')
		if eq < 0 {
			continue
		}
		if bytes.Equal(UnescapeTag(pair[:eq]), k) {
			return UnescapeTag(pair[eq+1:]), true
		}
	}
	return nil, false
}

// unescapedIndex returns the index of the first c in b whose previous byte
// is not a backslash, or -1. Like InfluxDB's scanner it looks only at the
// byte before: in `a\\,b` the comma counts as escaped.
func unescapedIndex(b []byte, c byte) int {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], c)
		if j < 0 {
			return -1
		}
		i += j
		if i == 0 || b[i-1] != '\\' {
			return i
		}
		i++
	}
	return -1
}

// UnescapeMeasurement returns the measurement name InfluxDB 1.x stores (and
// queries name) for a measurement as written in a line: `\,` becomes ","
// and `\ ` becomes " ". InfluxDB undoes these escapes twice on the way
// from the line to its index (observed on 1.6.7 and 1.8.10: `a\\,b` is
// stored as "a,b", `c\\\,d` as `c\,d`), so this does too. It returns b
// itself when there is nothing to undo.
func UnescapeMeasurement(b []byte) []byte {
	return unescape(unescape(b, measurementEscapes), measurementEscapes)
}

// UnescapeTag undoes the escaping of a tag key or value: `\,`, `\ ` and
// `\=`, in InfluxDB's order.
func UnescapeTag(b []byte) []byte { return unescape(b, tagEscapes) }

var (
	measurementEscapes = []byte{',', ' '}
	tagEscapes         = []byte{',', ' ', '='}
)

// unescape replaces each escape sequence in turn, as InfluxDB 1.x's
// models package does with bytes.Replace (a sequence that one replacement
// creates can be undone by a later one; matching that keeps names equal to
// what InfluxDB stores).
func unescape(b []byte, escaped []byte) []byte {
	if bytes.IndexByte(b, '\\') < 0 {
		return b
	}
	for _, c := range escaped {
		if bytes.IndexByte(b, c) >= 0 {
			b = bytes.ReplaceAll(b, []byte{'\\', c}, []byte{c})
		}
	}
	return b
}
