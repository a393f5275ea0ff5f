package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/wal"
)

// Ticket is a record in the log waiting for its answer: what Append
// returns and Await takes. Appending and awaiting are separate so that a
// request split over several relays (shards) appends every part before it
// waits for any.
type Ticket struct {
	idx       uint64
	set       *workerSet
	all, live uint64
}

// Index is the record's index in the log.
func (t Ticket) Index() uint64 { return t.idx }

// Refusal is why Append did not take a record: the answer the client gets.
type Refusal struct{ Answer Answer }

func (e *Refusal) Error() string { return e.Answer.Message() }

// Write appends rec to the log and answers per the consistency level.
// rec.Received, DB, Lines, Precision and Body must be set.
func (r *Relay) Write(ctx context.Context, rec *record.Record, c Consistency) Answer {
	t, err := r.Append(rec)
	if err != nil {
		return AnswerOf(err)
	}
	return r.Await(ctx, t, c)
}

// AnswerOf is the client's answer to an Append error.
func AnswerOf(err error) Answer {
	var ref *Refusal
	if errors.As(err, &ref) {
		return ref.Answer
	}
	return ErrorAnswer(http.StatusServiceUnavailable, "%v", err)
}

// Append stores rec durably in the log (never answering before it is
// there) and returns the ticket to await its answer with. An error is a
// *Refusal carrying the client's answer: 503 when a backlog is full under
// overflow = reject or the log cannot take appends, 413 when the record is
// larger than the log takes.
func (r *Relay) Append(rec *record.Record) (Ticket, error) {
	return r.AppendEncoded(rec, nil)
}

// AppendEncoded is Append for a caller that has rec's encoding already
// (rec.Encode(), or built in place with AppendHeader): the sharding layer
// builds each shard's part that way and saves a copy of the body. A nil
// payload is encoded here.
func (r *Relay) AppendEncoded(rec *record.Record, payload []byte) (Ticket, error) {
	set := r.set.Load()
	if err := r.full(set); err != nil {
		r.metrics.rejectedFull(r.opts.Name)
		return Ticket{}, &Refusal{ErrorAnswer(http.StatusServiceUnavailable, "%v", err)}
	}
	if payload == nil {
		payload = rec.Encode()
	}
	live := set.live()
	start := time.Now()
	idx, err := r.log.Append(payload)
	r.metrics.observeAppend(r.opts.Name, len(payload), time.Since(start), err)
	if errors.Is(err, wal.ErrTooLarge) {
		// One request too large for a record: that request's problem,
		// not the log's.
		return Ticket{}, &Refusal{ErrorAnswer(http.StatusRequestEntityTooLarge, "Request Entity Too Large")}
	}
	if err != nil {
		if r.appendErr.Swap(&err) == nil {
			r.logger.Error("cannot append to the write log; answering 503 until it works again", "err", err)
		}
		return Ticket{}, &Refusal{ErrorAnswer(http.StatusServiceUnavailable, "write log unavailable: %v", err)}
	}
	if r.appendErr.Swap(nil) != nil {
		r.logger.Info("write log accepts appends again")
	}
	end := r.log.EndOffset()
	for _, w := range set.workers {
		w.noteAppend(end)
	}
	return Ticket{idx: idx, set: set, all: set.targets(rec), live: live}, nil
}

// Await waits for the backends' verdicts on an appended record and
// answers per the consistency level, within the write timeout.
func (r *Relay) Await(ctx context.Context, t Ticket, c Consistency) Answer {
	if c == Any && t.live&t.all == 0 {
		return answerNoContent
	}
	tr := t.set.tracker
	wt := tr.register(t.idx)
	defer tr.unregister(wt)
	timer := time.NewTimer(time.Duration(r.writeTimeout.Load()))
	defer timer.Stop()
	for {
		if a, ok := decide(tr.snapshot(wt), t.all, t.live, c, false); ok {
			return a
		}
		select {
		case <-wt.wake:
			continue
		case <-timer.C:
		case <-ctx.Done():
		case <-tr.done:
		}
		a, _ := decide(tr.snapshot(wt), t.all, t.live, c, true)
		return a
	}
}

// full reports a backlog at its cap under overflow = reject.
func (r *Relay) full(set *workerSet) error {
	end := r.log.EndOffset()
	for _, w := range set.workers {
		if !w.dropOldest && w.overCapacity(end) {
			return fmt.Errorf("backlog of backend %q is full (buffer-size-mb = %d, overflow = reject); write not accepted, retry later",
				w.name, w.capMB)
		}
	}
	return nil
}

// Ready returns why the relay cannot accept writes now, or nil.
func (r *Relay) Ready() error {
	if p := r.appendErr.Load(); p != nil {
		return fmt.Errorf("write log: %w", *p)
	}
	return r.full(r.set.Load())
}
