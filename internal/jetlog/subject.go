package jetlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// readSubject hands fn, in order, the messages of subject in st from the
// first up to sequence upTo, and returns the sequence of the last one
// handed over (0: none). It stops early, without an error, only when the
// stream holds no message of the subject after that one up to upTo: they
// were purged meanwhile (by another dead-letter drain, say).
//
// A fetch that brings nothing is not taken to mean that: a pull can be
// lost (see pullHeartbeat), or answered "no responders" when it reaches a
// server that has not learnt of its new consumer yet. The fetch is tried
// again, for up to noRespondersWait, while such a message is stored.
func readSubject(st jetstream.Stream, subject string, batch int, upTo uint64, fn func(seq uint64, data []byte) error) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverAllPolicy})
	cancel()
	if err != nil {
		return 0, err
	}
	handed := uint64(0)
	var stalled time.Time
	for handed < upTo {
		got, err := fetchSubject(cons, batch, upTo, &handed, fn)
		if err != nil {
			return handed, err
		}
		if got > 0 {
			stalled = time.Time{}
			continue
		}
		left, err := storedAfter(st, subject, handed, upTo)
		if err != nil || !left {
			return handed, err
		}
		if stalled.IsZero() {
			stalled = time.Now()
		} else if time.Since(stalled) > noRespondersWait {
			return handed, fmt.Errorf("messages up to %d are stored, but none after %d arrived for %v", upTo, handed, noRespondersWait)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return handed, nil
}

// fetchSubject hands the next batch of messages up to upTo to fn and
// reports how many arrived; handed follows what fn was given. A pull that
// found no responders counts as none arriving.
func fetchSubject(cons jetstream.Consumer, size int, upTo uint64, handed *uint64, fn func(seq uint64, data []byte) error) (int, error) {
	b, err := cons.Fetch(size, jetstream.FetchMaxWait(opTimeout))
	if errors.Is(err, nats.ErrNoResponders) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	got := 0
	for m := range b.Messages() {
		got++
		meta, err := m.Metadata()
		if err != nil {
			return got, err
		}
		if meta.Sequence.Stream > upTo {
			// Stored after the read started. No message of the
			// subject lies between: the consumer delivers in order.
			*handed = upTo
			return got, nil
		}
		if err := fn(meta.Sequence.Stream, m.Data()); err != nil {
			return got, err
		}
		*handed = meta.Sequence.Stream
		if *handed == upTo {
			return got, nil
		}
	}
	if err := b.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrNoResponders) {
		return got, err
	}
	return got, nil
}

// storedAfter reports whether st holds a message of subject with a
// sequence after handed and at most upTo.
func storedAfter(st jetstream.Stream, subject string, handed, upTo uint64) (bool, error) {
	var m *jetstream.RawStreamMsg
	err := answered(func(ctx context.Context) (err error) {
		m, err = st.GetMsg(ctx, handed+1, jetstream.WithGetMsgSubject(subject))
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
