package ingest

import (
	"strconv"

	"github.com/influxgate/influxgate/internal/lineproto"
)

// stampedBody is a request body once stamped, with the buffers that hold
// it until the request is answered.
type stampedBody struct {
	body []byte // what goes to the log
	st   lineproto.Stats
	bufs [2]*buffer
}

// free puts the buffers back.
func (s *stampedBody) free() {
	for _, b := range s.bufs {
		if b != nil {
			freeBuffer(b)
		}
	}
}

// stamp stamps the lines of buf that lack a timestamp with ts. The stamped copy's buffer is reserved from l before it is
// allocated, sized for the worst case (every line stamped) unless the
// body is too large for a pooled buffer: then one more scan counts the
// lines that need a stamp, so a large body that needs none (the usual
// large batch) costs no copy at all. Once stamped, the client's buffer is
// let go.
func stamp(buf *buffer, ts int64, l *lease) (stampedBody, error) {
	sb := stampedBody{bufs: [2]*buffer{buf}}
	var digits [24]byte
	tsLen := len(strconv.AppendInt(digits[:0], ts, 10))
	need := stampedCap(buf.b, tsLen)
	if len(buf.b) > bufClasses[len(bufClasses)-1] {
		n := 0
		lineproto.Quoted(buf.b, func(_ []byte, stamped bool) bool {
			if stamped {
				n++
			}
			return true
		})
		need = len(buf.b) + n*(tsLen+1)
		if n == 0 {
			need = 0 // Stamp returns the body itself and touches no dst
		}
	}
	var dst *buffer
	if need > 0 {
		if err := l.reserve(int64(bufferCap(need))); err != nil {
			return sb, err
		}
		dst = newBuffer(need)
	}
	var out []byte
	if dst != nil {
		out = dst.b[:0]
	}
	body, st := lineproto.Stamp(out, buf.b, ts)
	sb.body, sb.st = body, st
	if st.Stamped == 0 {
		if dst != nil {
			l.release(int64(cap(dst.b)))
			freeBuffer(dst)
		}
		return sb, nil
	}
	dst.b = body // need bounds the result: Stamp did not reallocate
	sb.bufs[1] = dst
	l.release(int64(cap(buf.b)))
	freeBuffer(buf)
	sb.bufs[0] = nil
	return sb, nil
}
