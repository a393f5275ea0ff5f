package relay

import (
	"context"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/record"
)

// send delivers recs as one request and resolves what it can. It returns
// how many records from the front were resolved, and the transient failure
// that stopped it, if any.
func (w *worker) send(ctx context.Context, recs []pending) (int, *backend.Result) {
	first := &recs[0].rec
	res := w.attempt(ctx, recs)
	switch res.Class {
	case backend.Accepted:
		w.accepted(recs, &res)
		return len(recs), nil
	case backend.Transient:
		if ctx.Err() == nil {
			for i := range recs {
				w.verdicts.report(recs[i].idx, w.bit, &res)
			}
		}
		return 0, &res
	case backend.TooLarge:
		if first.Kind == record.KindQuery {
			break // a query cannot be split; refused below
		}
		if len(recs) > 1 {
			return w.sendEach(ctx, [][]pending{recs[:len(recs)/2], recs[len(recs)/2:]})
		}
		return w.sendSplit(ctx, recs[0], &res)
	}
	// Rejected or Mismatch: find the record(s) it was about.
	if len(recs) > 1 {
		parts := make([][]pending, len(recs))
		for i := range recs {
			parts[i] = recs[i : i+1]
		}
		return w.sendEach(ctx, parts)
	}
	w.verdicts.report(recs[0].idx, w.bit, &res)
	if res.Class == backend.Rejected {
		w.reject(&recs[0], &res)
		return 1, nil
	}
	return w.mismatch(ctx, &recs[0], &res)
}

// attempt sends recs as one request (a write batch, or one schema change)
// and returns the classified answer.
func (w *worker) attempt(ctx context.Context, recs []pending) backend.Result {
	first := &recs[0].rec
	start := time.Now()
	var res backend.Result
	switch first.Kind {
	case record.KindBackfill:
		return w.runBackfill(ctx, recs[0].idx, first)
	case record.KindQuery:
		if fail := w.beforeDrop(ctx, first); fail != nil {
			return *fail
		}
		res = w.sender.Exec(ctx, first)
	default:
		b := backend.Batch{DB: first.DB, RP: first.RP, Org: first.Org,
			Precision: lineproto.Precision(first.Precision), Auth: first.Auth,
			Bodies: make([][]byte, len(recs))}
		for i := range recs {
			b.Bodies[i] = recs[i].rec.Body
		}
		res = w.sender.Write(ctx, &b)
	}
	w.requests.Add(1)
	w.metrics.observeRequest(res.Reason, time.Since(start))
	return res
}

func (w *worker) accepted(recs []pending, res *backend.Result) {
	for i := range recs {
		w.verdicts.report(recs[i].idx, w.bit, res)
		w.delivered.Add(uint64(recs[i].rec.Lines))
	}
	w.noteDelivered(&recs[0].rec) // a batch has one destination
}

// sendEach sends the parts one after the other.
func (w *worker) sendEach(ctx context.Context, parts [][]pending) (int, *backend.Result) {
	done := 0
	for _, p := range parts {
		n, fail := w.send(ctx, p)
		done += n
		if fail != nil {
			return done, fail
		}
	}
	return done, nil
}

// sendSplit halves one record's body at a line boundary after a 413.
func (w *worker) sendSplit(ctx context.Context, p pending, res *backend.Result) (int, *backend.Result) {
	cut := midLine(p.rec.Body)
	if cut <= 0 {
		w.verdicts.report(p.idx, w.bit, res)
		w.reject(&p, res)
		return 1, nil
	}
	a, b := p, p
	a.rec.Body, b.rec.Body = p.rec.Body[:cut], p.rec.Body[cut:]
	a.rec.Lines, b.rec.Lines = uint32(lineproto.Count(a.rec.Body).Lines), uint32(lineproto.Count(b.rec.Body).Lines)
	a.size, b.size = len(a.rec.Body), len(b.rec.Body)
	n, fail := w.sendEach(ctx, [][]pending{{a}, {b}})
	if n == 2 {
		return 1, nil
	}
	return 0, fail
}

// midLine returns the offset of the line start nearest the middle of body
// (0 when body is a single line).
func midLine(body []byte) int {
	best := 0
	lineproto.Lines(body, func(line []byte) bool {
		start := cap(body) - cap(line)
		if start > 0 && (best == 0 || abs(start-len(body)/2) < abs(best-len(body)/2)) {
			best = start
		}
		return true
	})
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// reject counts and logs a record this backend refused as bad data.
func (w *worker) reject(p *pending, res *backend.Result) {
	w.count(&w.rejected, res.Reason, uint64(p.rec.Lines))
	w.quiet.Warn(res.Reason, "backend rejected a write as bad data; not retried",
		"db", p.rec.DB, "status", res.Status, "error", logText(res.Message()), "reason", res.Reason)
}

// mismatch resolves a refusal that depends on this backend's own state
// (docs/delivery.md, "Refusals only some replicas give"):
//   - if every other replica refused the record too, the refusal is
//     unanimous: the client was told, the record is dropped;
//   - if another replica accepted it, the replicas disagree: retry for
//     dead-letter-after (a schema being created right now), then move the
//     record to this backend's dead-letter store;
//   - if no other replica has said anything yet (down or behind), move it
//     to the dead-letter store at once rather than stall every write behind it.
func (w *worker) mismatch(ctx context.Context, p *pending, res *backend.Result) (int, *backend.Result) {
	key := p.rec.DB + "/" + p.rec.RP + "/" + res.Reason
	if _, ok := w.missing[key]; ok {
		return w.deadLetter(p, res)
	}
	others := w.peers.others(&p.rec, w.bit)
	o := w.verdicts.await(ctx, p.idx, others&w.peers.live(), 2*time.Second)
	if others&^o.rejected == 0 {
		w.reject(p, res)
		return 1, nil
	}
	if o.accepted&others == 0 {
		return w.deadLetter(p, res)
	}
	deadline := time.Now().Add(w.deadLetterAfter)
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		// The last wait ends at the deadline: retried for exactly
		// dead-letter-after, not up to a backoff longer.
		if !sleep(ctx, min(backoff(attempt, w.maxDelay, res.RetryAfter), time.Until(deadline))) {
			return 0, res
		}
		w.retries.Add(1)
		again := w.attempt(ctx, []pending{*p})
		switch again.Class {
		case backend.Accepted:
			w.accepted([]pending{*p}, &again)
			return 1, nil
		case backend.Rejected:
			w.reject(p, &again)
			return 1, nil
		case backend.TooLarge:
			return w.sendSplit(ctx, *p, &again)
		}
		if ctx.Err() != nil {
			return 0, &again
		}
		// Still refused, or failing: keep trying until the deadline.
	}
	return w.deadLetter(p, res)
}

func (w *worker) deadLetter(p *pending, res *backend.Result) (int, *backend.Result) {
	if err := w.dead.Add(&p.rec); err != nil {
		// Keep the record at the cursor: nothing is lost, the backend
		// waits until the store is writable again.
		w.log.Error("cannot write the dead-letter store", "err", err)
		fail := backend.Result{Class: backend.Transient, Reason: "dead_letter_store", Err: err}
		return 0, &fail
	}
	key := p.rec.DB + "/" + p.rec.RP + "/" + res.Reason
	if _, ok := w.missing[key]; !ok {
		w.missing[key] = time.Now()
		w.log.Warn("backend refuses writes that other replicas may accept; moving them to its dead-letter store",
			"db", p.rec.DB, "rp", p.rec.RP, "status", res.Status, "error", logText(res.Message()),
			"hint", "fix the backend's schema or users, then run: influxgate dead-letter replay")
	}
	w.deadLetters.Add(1)
	w.metrics.deadLetter(res.Reason)
	return 1, nil
}
