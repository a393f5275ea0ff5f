package ingest

import "strings"

// parsePrefix opens each refused line in InfluxDB's write errors:
// "unable to parse '<line>': <reason>", joined by newlines after
// "partial write: " when some lines were written.
const parsePrefix = "unable to parse '"

// unstampMessage rewrites a backend's refusal of a body that influxgate
// stamped so that it quotes the client's lines, as InfluxDB answers the
// body the client sent: for every line that was stamped,
// "unable to parse '<line> <ts>': " becomes "unable to parse '<line>': ".
//
// InfluxDB quotes the refused lines in body order, and a line's fate
// depends only on its text, so the quotes are matched to the body's point
// lines in order: each quote belongs to the first line from where the
// last match left off whose text (plus " <ts>" if stamped) it starts with.
// Only stamped lines are rewritten, so a client line that carries the
// same timestamp keeps it. A quote that matches no line (a message cut
// short, or one about other lines) ends the rewriting; the rest of the
// message stays as the backend wrote it. It runs on the error path only,
// in one pass over the body.
//
// lines yields the body's point lines in order: each line's text as the
// client sent it and quoted by InfluxDB, and whether it was stamped.
func unstampMessage(msg, ts string, lines func(yield func(text []byte, stamped bool) bool)) string {
	var out strings.Builder
	copied := 0                           // msg[:copied] is in out
	at := strings.Index(msg, parsePrefix) // the quote to match next
	if at < 0 {
		return msg
	}
	lines(func(text []byte, stamped bool) bool {
		q := msg[at+len(parsePrefix):]
		n := len(text)
		if len(q) < n || q[:n] != string(text) {
			return true
		}
		rest := q[n:]
		if stamped {
			if !strings.HasPrefix(rest, " ") || !strings.HasPrefix(rest[1:], ts) {
				return true
			}
			rest = rest[1+len(ts):]
		}
		if !strings.HasPrefix(rest, "': ") {
			return true
		}
		end := len(msg) - len(rest) // just after the quoted text
		if stamped {
			out.WriteString(msg[copied : at+len(parsePrefix)+n])
			copied = end
		}
		next := strings.Index(msg[end:], parsePrefix)
		if next < 0 {
			return false
		}
		at = end + next
		return true
	})
	if copied == 0 {
		return msg
	}
	out.WriteString(msg[copied:])
	return out.String()
}
