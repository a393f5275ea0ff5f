package udp

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/influxgate/influxgate/internal/lineproto"
)

// cleaner turns a received packet into the body influxgate forwards: the
// packet's well-formed point lines, each stamped if it had no timestamp.
// It reuses its buffers from packet to packet and is not safe for
// concurrent use.
type cleaner struct {
	prec    lineproto.Precision
	valid   []byte // the valid lines, when some had to be dropped
	stamped []byte // Stamp's output
	scratch []byte // a line followed by another, for endsCleanly
}

// packetResult describes one cleaned packet.
type packetResult struct {
	lines     int   // point lines in the packet (blank lines and comments excluded)
	malformed int   // of those, dropped as InfluxDB would reject them
	stamped   int   // valid lines that got a timestamp
	firstErr  error // why the first malformed line was dropped
}

// valid returns the number of lines the cleaned body holds.
func (r packetResult) valid() int { return r.lines - r.malformed }

// clean returns the valid point lines of pkt, those without a timestamp
// stamped with ts. The result aliases pkt or the cleaner's buffers and is
// valid until the next call. Lines keep their bytes and order; blank lines
// and comments may remain (consumers skip them); the last line may lack a
// terminating '\n'.
func (c *cleaner) clean(pkt []byte, ts int64) ([]byte, packetResult) {
	var r packetResult
	rebuild := false
	lineproto.Lines(pkt, func(line []byte) bool {
		if !lineproto.IsPoint(line) {
			// A comment can swallow the next line too ("# a=\"b", "# x\").
			// Only a packet's last line can, and it is left out then.
			if !c.endsCleanly(line) {
				rebuild = true
			}
			return true
		}
		r.lines++
		if err := c.check(line); err != nil {
			r.malformed++
			if r.firstErr == nil {
				r.firstErr = err
			}
		}
		return true
	})
	body := pkt
	if r.malformed > 0 || rebuild {
		// The rare path: copy the valid point lines (validating again is
		// cheaper than remembering where every line was).
		valid := c.valid[:0]
		lineproto.Lines(pkt, func(line []byte) bool {
			if lineproto.IsPoint(line) && c.check(line) == nil {
				valid = append(valid, line...)
				valid = append(valid, '\n')
			}
			return true
		})
		c.valid, body = valid, valid
	}
	if r.valid() == 0 {
		return nil, r
	}
	out, st := lineproto.Stamp(c.stamped[:0], body, ts)
	if st.Stamped > 0 {
		c.stamped = out
	}
	r.stamped = st.Stamped
	return out, r
}

// errSwallows: InfluxDB 1.x accepts some lines only as the last line of a
// body: one that ends in an escaping backslash, or whose line scan ends
// inside a quoted string. Followed by another line, as in a datagram or a
// log record that joins packets, it would swallow that line (the backslash
// escapes the '\n', the open quote runs on), and a backslash would also
// escape the space before a timestamp, so the line could not be stamped.
var errSwallows = errors.New("line does not end before a following line (trailing backslash or open quote)")

// check returns why line must be dropped, or nil.
func (c *cleaner) check(line []byte) error {
	if err := lineproto.ValidateLinePrecision(line, c.prec); err != nil {
		return err
	}
	if !c.endsCleanly(line) {
		return fmt.Errorf("unable to parse '%s': %w", line, errSwallows)
	}
	return nil
}

// endsCleanly reports whether line, followed by '\n' and more bytes, still
// ends at that '\n'. Only quotes and backslashes can move a line's end, so
// the common line needs no rescan.
func (c *cleaner) endsCleanly(line []byte) bool {
	if bytes.IndexByte(line, '"') < 0 && bytes.IndexByte(line, '\\') < 0 {
		return true
	}
	c.scratch = append(append(c.scratch[:0], line...), '\n', 'x')
	n := -1
	lineproto.Lines(c.scratch, func(first []byte) bool {
		n = len(first)
		return false
	})
	return n == len(line)
}
