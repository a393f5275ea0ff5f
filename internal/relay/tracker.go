package relay

import (
	"context"
	"math/bits"
	"net/http"
	"sync"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/influxerr"
)

// ringSize is how many recent records keep their verdicts in memory. The
// answer to a client waits on them, and a worker that meets a refusal only
// it may have (Mismatch) asks whether the other replicas accepted the record.
const ringSize = 1 << 16

// outcome is what the backends said about one record so far, as bit sets
// over worker positions.
type outcome struct {
	idx      uint64
	accepted uint64
	rejected uint64 // bad data or a refusal (Rejected, Mismatch, TooLarge of one line)
	failed   uint64 // transient failure: no verdict yet
	// first refusal, for the client's answer
	status int
	body   []byte
	// first acceptance: a schema change answers with the first backend's
	// results (a write's acceptance is a bodiless 204)
	okStatus int
	okBody   []byte
}

func (o *outcome) reset(idx uint64) { *o = outcome{idx: idx} }

type waiter struct {
	o    outcome
	wake chan struct{} // buffered(1): a report arrived
}

// tracker collects the verdicts of the delivery workers and wakes the
// requests waiting for them. Each worker set has its own: bits are
// positions in that set.
type tracker struct {
	mu      sync.Mutex
	ring    [ringSize]outcome
	waiters map[uint64][]*waiter
	// done is closed when the set's workers stop for good (a reload
	// replaced them): no verdict will come any more, so waiting requests
	// are answered with what they have.
	done      chan struct{}
	closeOnce sync.Once
}

func newTracker() *tracker {
	return &tracker{waiters: make(map[uint64][]*waiter), done: make(chan struct{})}
}

// close ends every wait: the workers reporting to t are gone.
func (t *tracker) close() { t.closeOnce.Do(func() { close(t.done) }) }

// report records backend bit's verdict on record idx.
func (t *tracker) report(idx uint64, bit uint64, res *backend.Result) {
	t.mu.Lock()
	s := &t.ring[idx%ringSize]
	if s.idx < idx {
		s.reset(idx)
	}
	if s.idx == idx {
		apply(s, bit, ringSafe(res))
	}
	for _, w := range t.waiters[idx] {
		apply(&w.o, bit, res)
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	t.mu.Unlock()
}

// maxRingBody bounds the answer body a ring slot keeps: InfluxDB quotes
// every bad line in its error, and 64 Ki slots of 64 KiB bodies would let a
// client that sends bad data pin gigabytes. Requests waiting for their
// answer get the whole body through their waiter.
const maxRingBody = 2 << 10

// ringSafe returns res, or a copy whose body is cut to maxRingBody and,
// for an InfluxDB JSON error, made valid JSON again.
func ringSafe(res *backend.Result) *backend.Result {
	if len(res.Body) <= maxRingBody {
		return res
	}
	c := *res
	msg := res.Message()
	if len(msg) > maxRingBody-100 {
		msg = msg[:maxRingBody-100] + " … (cut)"
	}
	c.Body = influxerr.Body(msg)
	return &c
}

func apply(o *outcome, bit uint64, res *backend.Result) {
	switch res.Class {
	case backend.Accepted:
		if o.accepted == 0 && res.Status != http.StatusNoContent {
			// A schema change's results; a write's 204 has no body, and
			// the ring must not hold one per record.
			o.okStatus, o.okBody = res.Status, res.Body
		}
		o.accepted |= bit
		o.failed &^= bit
	case backend.Transient:
		if o.accepted&bit == 0 && o.rejected&bit == 0 {
			o.failed |= bit
		}
	default:
		if o.rejected == 0 {
			o.status, o.body = res.Status, res.Body
		}
		o.rejected |= bit
		o.failed &^= bit
	}
}

// register starts waiting for verdicts on idx; verdicts that arrived
// before are copied in. The caller must call unregister.
func (t *tracker) register(idx uint64) *waiter {
	w := &waiter{wake: make(chan struct{}, 1)}
	t.mu.Lock()
	if s := &t.ring[idx%ringSize]; s.idx == idx {
		w.o = *s
	} else {
		w.o.idx = idx
	}
	t.waiters[idx] = append(t.waiters[idx], w)
	t.mu.Unlock()
	return w
}

// snapshot returns the waiter's current outcome.
func (t *tracker) snapshot(w *waiter) outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	return w.o
}

func (t *tracker) unregister(w *waiter) {
	t.mu.Lock()
	ws := t.waiters[w.o.idx]
	for i := range ws {
		if ws[i] == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(t.waiters, w.o.idx)
	} else {
		t.waiters[w.o.idx] = ws
	}
	t.mu.Unlock()
}

// lookup returns the remembered outcome of idx, if it is still in the ring.
func (t *tracker) lookup(idx uint64) (outcome, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.ring[idx%ringSize]
	return s, s.idx == idx
}

// await waits until every backend in mask has given a verdict on idx
// (accepted or refused), or timeout passes, and returns what they said.
func (t *tracker) await(ctx context.Context, idx, mask uint64, timeout time.Duration) outcome {
	wt := t.register(idx)
	defer t.unregister(wt)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		o := t.snapshot(wt)
		if mask&^(o.accepted|o.rejected|o.failed) == 0 {
			return o
		}
		select {
		case <-wt.wake:
		case <-timer.C:
			return t.snapshot(wt)
		case <-ctx.Done():
			return t.snapshot(wt)
		case <-t.done:
			return t.snapshot(wt)
		}
	}
}

func count(set uint64) int { return bits.OnesCount64(set) }
