package jetlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
)

// The dead letters of every backend are kept in one stream,
// <prefix>_deadletter (created when the first is stored), under the subject
// <prefix>.deadletter.<relay>.<backend>, replicated like the logs: a node
// that takes a backend over counts and replays what another node stored,
// and a node destroyed with its disk takes none with it. The stream has no
// limits, as the local store has none: records stay until replayed or
// purged.

var _ relay.DeadLetterLog = (*Log)(nil)

// DeadLetters returns backend's dead-letter store.
func (l *Log) DeadLetters(backend string) relay.DeadLetterStore {
	return &deadLetters{c: l.c, subject: l.c.cfg.StreamPrefix + ".deadletter." + l.key + "." + escape(backend)}
}

type deadLetters struct {
	c       *Conn
	subject string
}

// deadLetterStream is the dead-letter stream, created by the first Add: a
// deployment without dead letters runs no replicated stream for them.
// nil, nil: there is none yet.
func (c *Conn) deadLetterStream(create bool) (jetstream.Stream, error) {
	return c.lazyStream(&c.dead, create, "_deadletter", "deadletter",
		"influxgate: records a backend refused while other replicas may have accepted them")
}

// Open returns how many records the store holds.
func (d *deadLetters) Open() (uint64, error) {
	st, err := d.c.deadLetterStream(false)
	if err != nil || st == nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(d.subject))
	if err != nil {
		return 0, fmt.Errorf("count the dead letters in %s: %w", d.subject, err)
	}
	return info.State.Subjects[d.subject], nil
}

// Add stores rec once a quorum of the stream's servers has it. A retry
// after an acknowledgement that was lost stores it twice, which a replay
// makes harmless (the points carry their timestamps).
func (d *deadLetters) Add(rec *record.Record) error {
	if _, err := d.c.deadLetterStream(true); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, err := d.c.js.Publish(ctx, d.subject, rec.Encode())
	return err
}

// Drain calls fn for every record stored when it starts, in order, then
// deletes those; records stored meanwhile (by the deliverer) stay.
//
// It deletes only what it handed to fn. A fetch that brings nothing is not
// taken to mean that the records are gone: a pull can be lost (see
// pullHeartbeat), or answered "no responders" when it reaches a server
// that has not learnt of its new consumer yet. Only when the stream holds
// no record of the subject after the last one handed over, up to where
// the drain started, has another drain taken the rest; otherwise the fetch
// is tried again, for up to noRespondersWait.
func (d *deadLetters) Drain(fn func(rec *record.Record) error) (int, error) {
	st, err := d.c.deadLetterStream(false)
	if err != nil || st == nil {
		return 0, err
	}
	last, err := lastMsg(st, d.subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the dead letters in %s: %w", d.subject, err)
	}
	upTo := last.Sequence
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{d.subject}, DeliverPolicy: jetstream.DeliverAllPolicy})
	cancel()
	if err != nil {
		return 0, fmt.Errorf("read the dead letters in %s: %w", d.subject, err)
	}
	n := 0
	handed := uint64(0) // the sequence of the last record handed to fn
	stalled := time.Time{}
	for handed < upTo {
		got, err := d.fetch(cons, upTo, &handed, &n, fn)
		if err != nil {
			return n, err
		}
		if got > 0 {
			stalled = time.Time{}
			continue
		}
		left, err := d.leftAfter(st, handed, upTo)
		if err != nil {
			return n, fmt.Errorf("read the dead letters in %s: %w", d.subject, err)
		}
		if !left {
			break // another drain (a replay on another node) took them
		}
		if stalled.IsZero() {
			stalled = time.Now()
		} else if time.Since(stalled) > noRespondersWait {
			return n, fmt.Errorf("read the dead letters in %s: records up to %d are stored, but none arrived after %d for %v",
				d.subject, upTo, handed, noRespondersWait)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if handed == 0 {
		return n, nil
	}
	ctx, cancel = context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(d.subject), jetstream.WithPurgeSequence(handed+1)); err != nil {
		// The records replayed so far are in the log and still here: a
		// second replay sends them twice, which is harmless.
		return n, fmt.Errorf("delete the dead letters in %s: %w", d.subject, err)
	}
	return n, nil
}

// fetch hands the next batch of records up to upTo to fn and reports how
// many arrived. A pull that found no responders counts as none arriving.
func (d *deadLetters) fetch(cons jetstream.Consumer, upTo uint64, handed *uint64, n *int,
	fn func(rec *record.Record) error) (int, error) {
	batch, err := cons.Fetch(256, jetstream.FetchMaxWait(opTimeout))
	if errors.Is(err, nats.ErrNoResponders) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the dead letters in %s: %w", d.subject, err)
	}
	got := 0
	for m := range batch.Messages() {
		got++
		meta, err := m.Metadata()
		if err != nil {
			return got, err
		}
		if meta.Sequence.Stream > upTo {
			// Stored after the drain started: the next drain's. None
			// of the subject lies between: the consumer delivers in
			// order.
			*handed = upTo
			return got, nil
		}
		rec, err := record.Decode(m.Data())
		if err != nil {
			return got, fmt.Errorf("dead-letter record %d: %w", meta.Sequence.Stream, err)
		}
		if err := fn(&rec); err != nil {
			return got, err
		}
		*n++
		*handed = meta.Sequence.Stream
		if *handed == upTo {
			return got, nil
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrNoResponders) {
		return got, fmt.Errorf("read the dead letters in %s: %w", d.subject, err)
	}
	return got, nil
}

// leftAfter reports whether the stream holds a record of the subject with
// a sequence after handed and at most upTo.
func (d *deadLetters) leftAfter(st jetstream.Stream, handed, upTo uint64) (bool, error) {
	var m *jetstream.RawStreamMsg
	err := answered(func(ctx context.Context) (err error) {
		m, err = st.GetMsg(ctx, handed+1, jetstream.WithGetMsgSubject(d.subject))
		return err
	})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return m.Sequence <= upTo, nil
}

// Close has nothing to release: the store lives in the log's connection.
func (d *deadLetters) Close() error { return nil }
