package jetlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/wal"
)

const (
	// readWait bounds how long Read waits for a record the log knows of.
	readWait = 100 * time.Millisecond
	// queueBytes bounds what a reader holds received and not yet read.
	queueBytes = 16 << 20
	// pullMessages is how many messages the client library asks for at a
	// time. A bound in messages, not bytes: a pull bounded in bytes stalls
	// on a record larger than the bound.
	pullMessages = 128
	// pullHeartbeat is how often the server confirms an idle pull. A pull
	// can be lost: one sent right after its consumer was created (a
	// reader's first) can reach a server that has not learnt of the
	// consumer yet and be answered "no responders", which the client
	// library ignores. Nothing arrives after that until two heartbeats are
	// missed and the library recreates the consumer; with its default of
	// 5 s a backend would receive nothing for 10 s, which is longer than
	// a write waits for its answer.
	pullHeartbeat = time.Second
)

// Reader reads the stream in order from a sequence with an ordered
// consumer: an ephemeral consumer that the client recreates, from the last
// sequence it received, whenever a message is missed or the server it was
// on goes away. It is created at the first Read, so that a standby node's
// workers (which never read) cost the servers nothing.
type Reader struct {
	l    *Log
	next uint64
	gaps []wal.Gap

	it   jetstream.MessagesContext
	q    *msgQueue
	pump chan struct{} // closed when the pump goroutine ended
	out  []wal.Entry
}

// NewReader returns a reader positioned at index from (0: the oldest).
func (l *Log) NewReader(from uint64) (relay.LogReader, error) {
	if from == 0 {
		from = max(l.FirstIndex(), 1)
	}
	return &Reader{l: l, next: from}, nil
}

func (r *Reader) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cons, err := r.l.c.js.OrderedConsumer(ctx, r.l.stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: r.next,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("read stream %s from %d: %w", r.l.stream, r.next, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(pullMessages), jetstream.PullHeartbeat(pullHeartbeat))
	if err != nil {
		return fmt.Errorf("read stream %s from %d: %w", r.l.stream, r.next, err)
	}
	r.it, r.q, r.pump = it, newMsgQueue(queueBytes), make(chan struct{})
	go r.run(it, r.q, r.pump)
	return nil
}

// run moves messages from the client library into the queue and wakes
// Notify's waiters.
func (r *Reader) run(it jetstream.MessagesContext, q *msgQueue, done chan struct{}) {
	defer close(done)
	for {
		m, err := it.Next()
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				q.fail(err)
			}
			return
		}
		meta, err := m.Metadata()
		if err != nil {
			continue
		}
		if !q.push(m, meta.Sequence.Stream) {
			return
		}
		r.l.raise(meta.Sequence.Stream)
	}
}

func (r *Reader) halt() {
	if r.it == nil {
		return
	}
	r.q.close()
	r.it.Stop()
	<-r.pump
	r.it, r.q, r.pump = nil, nil, nil
}

// Read returns the records received since the last Read, in order, up to
// about maxBytes (at least one when any is there). When the log knows of
// a record at Next that has not arrived yet (this node appended it a
// moment ago, or the stream's state said so), Read waits for it up to
// readWait: the worker would otherwise see nothing to read, wake at once
// from Notify (the record exists) and spin until the consumer delivers it.
func (r *Reader) Read(maxBytes int) ([]wal.Entry, error) {
	if r.it == nil {
		if err := r.start(); err != nil {
			return nil, err
		}
	}
	if r.q.empty() && r.l.last.Load() >= r.next {
		r.q.wait(readWait)
	}
	out := r.out[:0]
	size := 0
	for size < maxBytes {
		m, seq, err := r.q.pop()
		if err != nil {
			r.halt() // started again, from r.next, by the next Read
			return out, err
		}
		if m == nil {
			break
		}
		if seq < r.next {
			continue // already returned (a recreated consumer overlaps)
		}
		if seq > r.next {
			// Not purged by us: purges stop at the lowest stored cursor.
			r.gaps = append(r.gaps, wal.Gap{From: r.next, To: seq - 1, Reason: wal.GapMissing})
		}
		data := m.Data()
		out = append(out, wal.Entry{Index: seq, Offset: r.l.OffsetOf(seq), Size: int64(len(data)), Data: data, Cached: true})
		size += len(data)
		r.next = seq + 1
	}
	r.out = out
	return out, nil
}

// Next is the index the next Read starts at.
func (r *Reader) Next() uint64 { return r.next }

// Offset is the (estimated) log offset of Next.
func (r *Reader) Offset() int64 { return r.l.OffsetOf(r.next) }

// Gaps returns, once, the ranges the stream no longer held.
func (r *Reader) Gaps() []wal.Gap {
	g := r.gaps
	r.gaps = nil
	return g
}

// Seek moves the reader to index to.
func (r *Reader) Seek(to uint64) error {
	if to == 0 {
		to = max(r.l.FirstIndex(), 1)
	}
	if r.it != nil && to == r.next && r.q.empty() {
		return nil
	}
	r.halt()
	r.next, r.gaps = to, nil
	return nil
}

// Close stops reading.
func (r *Reader) Close() error {
	r.halt()
	return nil
}

// msgQueue holds received messages up to a number of bytes; the pump
// waits while it is full.
type msgQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	ready  chan struct{} // buffered(1): a message was pushed
	msgs   []queued
	bytes  int
	limit  int
	closed bool
	err    error
}

type queued struct {
	m   jetstream.Msg
	seq uint64
}

func newMsgQueue(limit int) *msgQueue {
	q := &msgQueue{limit: limit, ready: make(chan struct{}, 1)}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *msgQueue) push(m jetstream.Msg, seq uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.bytes >= q.limit && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return false
	}
	q.msgs = append(q.msgs, queued{m, seq})
	q.bytes += len(m.Data())
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// wait waits until a message is queued, an error is set, or d passes.
func (q *msgQueue) wait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		q.mu.Lock()
		done := len(q.msgs) > 0 || q.err != nil || q.closed
		q.mu.Unlock()
		if done {
			return
		}
		select {
		case <-q.ready:
		case <-t.C:
			return
		}
	}
}

func (q *msgQueue) pop() (jetstream.Msg, uint64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) == 0 {
		err := q.err
		q.err = nil
		return nil, 0, err
	}
	e := q.msgs[0]
	q.msgs[0] = queued{}
	q.msgs = q.msgs[1:]
	q.bytes -= len(e.m.Data())
	q.cond.Signal()
	return e.m, e.seq, nil
}

func (q *msgQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs) == 0
}

func (q *msgQueue) fail(err error) {
	q.mu.Lock()
	q.err = err
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *msgQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}
