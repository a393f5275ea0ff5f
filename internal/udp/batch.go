package udp

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/throttle"
)

// batcher collects the lines of many packets into one log record, so that
// a UDP flood does not become one log record (and one fsync, and one
// request per backend) per packet. The reading goroutine adds; a flushing
// goroutine writes a batch to the relay when FlushInterval has passed or
// it holds FlushBytes, whichever comes first. Appends therefore never hold
// up the reading of packets.
type batcher struct {
	relay    *relay.Relay
	template record.Record // DB, RP, Precision
	interval time.Duration
	size     int // flush when the batch holds this many bytes
	max      int // drop lines rather than hold more than this
	log      *throttle.Log

	mu  sync.Mutex
	cur batch
	// spare is the buffer the flusher hands back for the next batch.
	spare []byte

	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	logged      atomic.Uint64 // lines appended to the log
	records     atomic.Uint64
	busy        atomic.Uint64 // lines dropped: MaxPending reached
	unavailable atomic.Uint64 // lines dropped: the relay refused the batch
}

// batch is the lines waiting for the log.
type batch struct {
	body  []byte
	lines int
	first time.Time // receipt of the first packet in it
}

func newBatcher(r *relay.Relay, template record.Record, interval time.Duration, size, max int, log *throttle.Log) *batcher {
	return &batcher{relay: r, template: template, interval: interval, size: size, max: max, log: log,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// add queues the cleaned lines of one packet. It reports false, and counts
// the lines as dropped, when MaxPending bytes are already waiting.
func (b *batcher) add(body []byte, lines int, now time.Time) bool {
	b.mu.Lock()
	if len(b.cur.body) > 0 && len(b.cur.body)+len(body)+1 > b.max {
		b.mu.Unlock()
		b.busy.Add(uint64(lines))
		b.log.Warn(ReasonLogBusy, "UDP lines arrive faster than the log takes them; lines dropped",
			"lines", lines, "max_pending_bytes", b.max)
		return false
	}
	if b.cur.lines == 0 {
		b.cur.first = now
		if b.cur.body == nil {
			b.cur.body, b.spare = b.spare[:0], nil
		}
	}
	b.cur.body = append(b.cur.body, body...)
	// Packets are concatenated, so each must end its last line.
	if body[len(body)-1] != '\n' {
		b.cur.body = append(b.cur.body, '\n')
	}
	b.cur.lines += lines
	full := len(b.cur.body) >= b.size
	b.mu.Unlock()
	if full {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	return true
}

// run flushes until close is called.
func (b *batcher) run() {
	defer close(b.done)
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		case <-b.kick:
		}
		b.flush()
	}
}

// doneCtx is an already cancelled context: Write then appends the record
// and answers at once instead of waiting for backend verdicts, which no
// UDP sender could receive.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// flush writes the waiting lines to the relay as one record. Only the
// flushing goroutine calls it, and close once that goroutine has ended.
func (b *batcher) flush() {
	b.mu.Lock()
	cur := b.cur
	b.cur = batch{}
	b.mu.Unlock()
	if cur.lines == 0 {
		b.putSpare(cur.body)
		return
	}
	rec := b.template
	rec.Kind = record.KindWrite
	rec.Received = cur.first.UnixNano()
	rec.Lines = uint32(cur.lines)
	rec.Body = cur.body
	// Write encodes (copies) the record before it returns, so the body can
	// be reused. With consistency "any" and a cancelled context the only
	// 503 is the relay's own refusal before the append: a backend's 5xx is
	// never passed on as a verdict, it is retried.
	a := b.relay.Write(doneCtx, &rec, relay.Any)
	if a.Status == http.StatusServiceUnavailable {
		b.unavailable.Add(uint64(cur.lines))
		b.log.Warn(ReasonLogUnavailable, "the log did not take UDP lines; lines dropped",
			"lines", cur.lines, "err", a.Message())
	} else {
		b.logged.Add(uint64(cur.lines))
		b.records.Add(1)
	}
	b.putSpare(cur.body)
}

func (b *batcher) putSpare(buf []byte) {
	if buf == nil {
		return
	}
	b.mu.Lock()
	if b.spare == nil {
		b.spare = buf[:0]
	}
	b.mu.Unlock()
}
