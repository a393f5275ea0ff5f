package ingest

import (
	"strconv"

	"github.com/influxgate/influxgate/internal/influxerr"
	"github.com/influxgate/influxgate/internal/lineproto"
)

// stampedBody is a request body once stamped, with the buffers that hold
// it until the request is answered.
type stampedBody struct {
	body []byte // what goes to the log
	st   lineproto.Stats
	// orig is the client's body, kept for the error path only when it
	// cannot be told from body: when some lines were stamped and others
	// came with a timestamp (a client line may carry the very timestamp
	// influxgate stamps with). nil otherwise.
	orig []byte
	ts   int64
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

// stamp stamps the lines of buf that lack a timestamp with ts. A body
// whose lines all carry a timestamp (the usual batch) is found so by one
// scan that stops at the first line needing a stamp, and costs no copy.
// Otherwise the stamped copy's buffer is reserved from l before it is
// allocated, sized for the worst case (every line stamped) unless the
// body is too large for a pooled buffer: then one more scan counts the
// lines that need a stamp. Once stamped, the client's buffer is
// let go unless the error path will need it (see stampedBody.orig).
func stamp(buf *buffer, ts int64, l *lease) (stampedBody, error) {
	sb := stampedBody{ts: ts, bufs: [2]*buffer{buf}}
	if st, needs := lineproto.NeedsStamp(buf.b); !needs {
		// The usual batch carries its timestamps: no buffer to size.
		sb.body, sb.st = buf.b, st
		return sb, nil
	}
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
	}
	if err := l.reserve(int64(bufferCap(need))); err != nil {
		return sb, err
	}
	dst := newBuffer(need)
	body, st := lineproto.Stamp(dst.b[:0], buf.b, ts)
	sb.body, sb.st = body, st
	dst.b = body // need bounds the result: Stamp did not reallocate
	sb.bufs[1] = dst
	if st.Stamped < st.Lines {
		sb.orig = buf.b
		return sb, nil
	}
	// Every line was stamped: the client's lines are the logged ones
	// without their stamp, and the original is not needed any more.
	l.release(int64(cap(buf.b)))
	freeBuffer(buf)
	sb.bufs[0] = nil
	return sb, nil
}

// unstampAnswer rewrites a backend's error body so that it quotes the
// lines as the client sent them (see unstampMessage).
func (s *stampedBody) unstampAnswer(body []byte) []byte {
	msg := influxerr.Message(body)
	if msg == "" {
		return body
	}
	ts := strconv.FormatInt(s.ts, 10)
	var out string
	if s.orig != nil {
		out = unstampMessage(msg, ts, func(yield func([]byte, bool) bool) { lineproto.Quoted(s.orig, yield) })
	} else {
		// Every point line was stamped: its quote in the logged body is
		// the client's text, a space and the stamp.
		suffix := len(ts) + 1
		out = unstampMessage(msg, ts, func(yield func([]byte, bool) bool) {
			lineproto.Quoted(s.body, func(text []byte, _ bool) bool {
				return yield(text[:len(text)-suffix], true)
			})
		})
	}
	if out == msg {
		return body
	}
	return influxerr.Body(out)
}
