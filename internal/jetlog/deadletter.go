package jetlog

import (
	"context"
	"errors"
	"fmt"

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
// deletes those; records stored meanwhile (by the deliverer) stay. It
// deletes only what it handed to fn (see readSubject: a fetch that brings
// nothing does not end it while records are stored).
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
	n := 0
	handed, err := readSubject(st, d.subject, 256, last.Sequence, func(seq uint64, data []byte) error {
		rec, err := record.Decode(data)
		if err != nil {
			return fmt.Errorf("dead-letter record %d: %w", seq, err)
		}
		if err := fn(&rec); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("read the dead letters in %s: %w", d.subject, err)
	}
	if handed == 0 {
		return n, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(d.subject), jetstream.WithPurgeSequence(handed+1)); err != nil {
		// The records replayed so far are in the log and still here: a
		// second replay sends them twice, which is harmless.
		return n, fmt.Errorf("delete the dead letters in %s: %w", d.subject, err)
	}
	return n, nil
}

// Close has nothing to release: the store lives in the log's connection.
func (d *deadLetters) Close() error { return nil }
