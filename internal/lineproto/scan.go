package lineproto

import "bytes"

// Kinds of line, as InfluxDB 1.x's parser tells them apart.
const (
	kindBlank   = iota // empty or whitespace only: skipped by InfluxDB
	kindComment        // first non-whitespace byte is '#': skipped by InfluxDB
	kindPoint          // everything else, well formed or not
)

// lineInfo is what the scanner learns about one line.
type lineInfo struct {
	kind uint8
	// stamp is set for a point line that has no timestamp section and can
	// take " <ts>" at its end (see the package doc for the rules).
	stamp bool
	// lone is set for a point line without a timestamp that no stamp
	// fits: its field set ends in a lone backslash (a stamp would change
	// its last value), or a '\n' of its own follows the field set where
	// the timestamp would be.
	lone bool
	// at is where a stamp goes: the end of the line, or before a '\n' that
	// ends the line's own bytes (see classify).
	at int
	// ts0:ts1 is the timestamp token within the line; empty when none.
	ts0, ts1 int
}

// isWS reports whether c is whitespace to InfluxDB's parser, which skips
// spaces, tabs and NUL bytes before a line, the field set and the timestamp.
func isWS(c byte) bool { return c == ' ' || c == '\t' || c == 0 }

// skipWS returns the index of the first non-whitespace byte of b at or after i.
func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// nextLine returns the end of the line that starts at body[i]: the index of
// its terminating '\n', or len(body) for an unterminated last line. plain
// reports that the line contains neither '"' nor '\\', which lets callers
// take the fast path in classify.
//
// The common line has neither quotes nor backslashes, so its end is simply
// the next '\n'; three vectorised IndexByte calls settle that far faster
// than a byte-at-a-time state machine. Other lines go through lineEndSlow.
func nextLine(body []byte, i int) (end int, plain bool) {
	rest := body[i:]
	nl := bytes.IndexByte(rest, '\n')
	if nl < 0 {
		nl = len(rest)
	}
	seg := rest[:nl]
	if bytes.IndexByte(seg, '"') < 0 && bytes.IndexByte(seg, '\\') < 0 {
		return i + nl, true
	}
	return lineEndSlow(body, i), false
}

// lineEndSlow finds the end of the line starting at body[i] the way InfluxDB
// 1.x's scanLine does: a backslash escapes the byte after it (including a
// '\n'), and once the first unescaped space has been seen, a '"' opens or
// closes a quoted string when more '=' than ',' have been seen outside
// quotes. A '\n' inside a quoted string does not end the line.
func lineEndSlow(body []byte, i int) int {
	n := len(body)
	// InfluxDB only skips an escape when two more bytes follow; at the very
	// end of the body the difference cannot move a line end, but it is kept.
	//
	// Before the first space (the key) only escapes and '\n' matter.
	for i < n {
		c := body[i]
		if c == '\\' && i+2 < n {
			i += 2
			continue
		}
		if c == ' ' {
			break
		}
		if c == '\n' {
			return i
		}
		i++
	}
	quoted := false
	equals, commas := 0, 0
	for i < n {
		if quoted {
			// Inside a string only an escape or the closing quote matters;
			// '=' and ',' are not counted, so a '"' always closes it.
			q := bytes.IndexByte(body[i:], '"')
			if q < 0 {
				return n
			}
			if e := bytes.IndexByte(body[i:i+q], '\\'); e >= 0 {
				i += e
				if i+2 < n {
					i += 2
				} else {
					i++
				}
				continue
			}
			i += q + 1
			quoted = false
			continue
		}
		for i < n && !lineSpecial[body[i]] {
			i++
		}
		if i == n {
			break
		}
		switch body[i] {
		case '\\':
			if i+2 < n {
				i += 2
				continue
			}
		case '=':
			equals++
		case ',':
			commas++
		case '"':
			quoted = equals > commas
		case '\n':
			return i
		}
		i++
	}
	return n
}

// lineSpecial marks the bytes that change lineEndSlow's state outside a
// quoted string once the key has been passed.
var lineSpecial = [256]bool{'\\': true, '=': true, ',': true, '"': true, '\n': true}

// fieldSpecial marks the bytes that change fieldsEnd's state outside a
// quoted string.
var fieldSpecial = [256]bool{'\\': true, '=': true, ',': true, '"': true, ' ': true}

// isPoint reports whether a line (without its terminator) is a point line:
// neither blank nor a comment.
func isPoint(line []byte) bool {
	s := skipWS(line, 0)
	return s < len(line) && line[s] != '#'
}

// isPlain reports whether body holds neither '"' nor '\\': then every line
// ends at the next '\n', and one vectorised pass per byte over the whole
// body replaces two short ones per line.
func isPlain(body []byte) bool {
	return bytes.IndexByte(body, '"') < 0 && bytes.IndexByte(body, '\\') < 0
}

// lineEnd is nextLine with the answer for a plain body known in advance.
func lineEnd(body []byte, i int, plainBody bool) (end int, plain bool) {
	if !plainBody {
		return nextLine(body, i)
	}
	if nl := bytes.IndexByte(body[i:], '\n'); nl >= 0 {
		return i + nl, true
	}
	return len(body), true
}

// IsPoint reports whether line, as passed by Lines, is a point line rather
// than a blank line or a comment, which InfluxDB skips. Malformed lines are
// point lines too.
func IsPoint(line []byte) bool { return isPoint(line) }

// classify examines one line (without its terminator). plain must be true
// only if the line contains neither '"' nor '\\'.
func classify(b []byte, plain bool) lineInfo {
	s := skipWS(b, 0)
	if s == len(b) {
		return lineInfo{kind: kindBlank}
	}
	if b[s] == '#' {
		return lineInfo{kind: kindComment}
	}
	info := lineInfo{kind: kindPoint, at: len(b)}
	if plain {
		k := bytes.IndexByte(b[s:], ' ')
		if k < 0 {
			return info // no field set: "missing fields"
		}
		fs := skipWS(b, s+k)
		if fs == len(b) {
			return info // key and whitespace only
		}
		e := bytes.IndexByte(b[fs:], ' ')
		if e < 0 {
			info.stamp = true
			return info
		}
		t := skipWS(b, fs+e)
		if t == len(b) {
			info.stamp = true
			return info
		}
		te := bytes.IndexByte(b[t:], ' ')
		if te < 0 {
			te = len(b) - t
		}
		info.ts0, info.ts1 = t, t+te
		return info
	}

	// A line's own bytes end in '\n' when a backslash escaped it, or when
	// the body ends inside what scanLine takes for a quoted string (its
	// quote tracking differs from scanFields', e.g. after leading spaces).
	// InfluxDB strips that byte before parsing, so a stamp goes before it.
	if b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	info.at = len(b)
	k := keyEnd(b, s)
	if k < 0 {
		return info
	}
	fs := skipWS(b, k)
	if fs == len(b) {
		return info
	}
	f, balanced := fieldsEnd(b, fs)
	if !balanced {
		return info // "unbalanced quotes": left alone
	}
	t := skipWS(b, f)
	if t == len(b) {
		info.lone = oddTrailingBackslashes(b)
		info.stamp = !info.lone
		return info
	}
	te := t
	for te < len(b) && b[te] != ' ' && b[te] != '\n' {
		te++
	}
	if te == t {
		// The timestamp section starts at a '\n' that the line's own
		// bytes hold (scanLine took it for quoted, e.g. ` =" f="" \n0`).
		// InfluxDB reads no timestamp there and ignores the rest, so it
		// stamps the point itself; a stamp before the '\n' would leave
		// bytes after the timestamp, which it refuses ("point is
		// invalid"). No stamp fits.
		info.lone = true
		return info
	}
	info.ts0, info.ts1 = t, te
	return info
}

// stampInfo is classify's answer as far as stamping needs it (kind, stamp
// and lone; ts0 and ts1 are left unset), found with less work for the
// common line: a plain line that neither starts nor ends with whitespace
// and is not a comment. classify walks such a line with three IndexByte
// calls and three whitespace skips; here two IndexByte calls settle it.
// The first space k ends the key (none: no field set). If the byte after
// k is not whitespace, the field set starts there, and a second space
// after it means a timestamp follows (the line does not end in
// whitespace, so something follows that space); no second space means a
// field set without a timestamp, which gets a stamp. Whitespace after the
// key sends the line to classify. FuzzStampInfo checks that both always
// agree.
func stampInfo(b []byte, plain bool) lineInfo {
	n := len(b)
	if !plain || n == 0 || isWS(b[0]) || b[0] == '#' || isWS(b[n-1]) {
		return classify(b, plain)
	}
	info := lineInfo{kind: kindPoint, at: n}
	k := bytes.IndexByte(b, ' ')
	if k < 0 {
		return info // no field set: "missing fields"
	}
	if isWS(b[k+1]) { // b[k+1] exists: b[n-1] is not a space
		return classify(b, plain)
	}
	if bytes.IndexByte(b[k+1:], ' ') < 0 {
		info.stamp = true // key, one space, field set
	}
	return info // key, field set, timestamp
}

// keyEnd returns the index of the space that ends the key (measurement and
// tags) of the line b whose first non-whitespace byte is b[s], or -1. Like
// InfluxDB's scanKey, a space preceded by a backslash does not end the key.
func keyEnd(b []byte, s int) int {
	for p := s + 1; p < len(b); p++ {
		j := bytes.IndexByte(b[p:], ' ')
		if j < 0 {
			return -1
		}
		p += j
		if b[p-1] != '\\' {
			return p
		}
	}
	return -1
}

// fieldsEnd returns the end of the field set starting at b[i] and whether
// its quotes are balanced. It follows where InfluxDB's scanFields stops: a
// backslash escapes the next byte, a '"' toggles quoting when more '=' than
// ',' have been seen, an unquoted number or boolean value runs to the next
// ',' or ' ', and an unquoted space ends the set. It does not validate
// values; lines it mis-measures are ones InfluxDB rejects anyway.
func fieldsEnd(b []byte, i int) (int, bool) {
	n := len(b)
	quoted := false
	equals, commas := 0, 0
	for i < n {
		if quoted {
			// As in lineEndSlow: only an escape or the closing quote.
			q := bytes.IndexByte(b[i:], '"')
			if q < 0 {
				return n, false
			}
			if e := bytes.IndexByte(b[i:i+q], '\\'); e >= 0 {
				i += e
				if i+1 < n {
					i += 2
				} else {
					i++
				}
				continue
			}
			i += q + 1
			quoted = false
			continue
		}
		for i < n && !fieldSpecial[b[i]] {
			i++
		}
		if i == n {
			break
		}
		switch b[i] {
		case '\\':
			if i+1 < n {
				i += 2
				continue
			}
		case '"':
			quoted = equals > commas
		case '=':
			equals++
			if i+1 < n && b[i+1] != '"' {
				i++
				for i < n && b[i] != ',' && b[i] != ' ' {
					i++
				}
				continue
			}
		case ',':
			commas++
		case ' ':
			return i, true
		}
		i++
	}
	return i, !quoted
}

// oddTrailingBackslashes reports whether b ends in an odd run of
// backslashes, whose last one would escape a byte appended after it.
func oddTrailingBackslashes(b []byte) bool {
	n := 0
	for i := len(b) - 1; i >= 0 && b[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// Lines calls fn with each line of body, in order, without its terminating
// '\n', until fn returns false. Lines end at a '\n' that is neither inside a
// quoted string field value nor escaped by a backslash, as in InfluxDB 1.x,
// so a line may contain newlines. Blank lines and comments are passed too
// (IsPoint tells them apart); a body that ends in '\n' has no empty line
// after it. The slices alias body.
func Lines(body []byte, fn func(line []byte) bool) {
	for i := 0; i < len(body); {
		end, _ := nextLine(body, i)
		if !fn(body[i:end]) {
			return
		}
		i = end + 1
	}
}
