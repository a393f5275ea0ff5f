package ingest

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// Budget bounds the memory that write requests hold at once: bodies being
// read and inflated, their stamped copies and the log records built from
// them. Every buffer a write allocates for its body is reserved first, so
// a burst of large or highly compressed bodies cannot take the process
// beyond the budget: a write that cannot get its next reservation within a
// short wait is answered 503 with Retry-After, and one that could never fit
// gets 413. One Budget serves every listener of a process, since they share
// one memory.
//
// After a burst (the budget was at least a quarter used, then the writes
// in flight hold almost nothing), the Budget returns the freed memory to
// the operating system: Go's runtime would otherwise keep the heap of the
// burst for minutes, and its resident size with it.
type Budget struct {
	limit int64
	wait  time.Duration
	sem   *semaphore.Weighted
	held  atomic.Int64
	// peak is the most held since memory was last returned to the OS.
	peak    atomic.Int64
	freeing atomic.Bool
	settle  time.Duration // quiet time before memory is returned
	// freeOS returns freed memory to the OS; tests count its calls.
	freeOS func()
}

// DefaultBudgetWait is how long a write may wait, in total, for its
// reservations before it is refused with 503: long enough to ride out the
// answer of one large write ahead of it, short enough that a client retries
// against a less busy node behind a load balancer instead of queueing here.
const DefaultBudgetWait = time.Second

// Refusals of a reservation.
var (
	// errBudgetBusy: the reservation was not had within the wait.
	errBudgetBusy = errors.New("write memory budget exhausted")
	// errOverBudget: the request needs more than the whole budget.
	errOverBudget = errors.New("write needs more memory than the whole write memory budget")
)

// NewBudget returns a budget of limit bytes (at least 1), shown by m's
// gauges; m may be nil.
func NewBudget(limit int64, m *Metrics) *Budget {
	limit = max(limit, 1)
	b := &Budget{limit: limit, wait: DefaultBudgetWait, sem: semaphore.NewWeighted(limit),
		settle: time.Second, freeOS: returnMemoryToOS}
	m.track(b)
	return b
}

// Limit returns the budget in bytes.
func (b *Budget) Limit() int64 { return b.limit }

// Held returns the bytes reserved by writes in flight.
func (b *Budget) Held() int64 { return b.held.Load() }

func (b *Budget) add(n int64) {
	h := b.held.Add(n)
	if n > 0 {
		for p := b.peak.Load(); h > p && !b.peak.CompareAndSwap(p, h); p = b.peak.Load() {
		}
		return
	}
	if h <= b.limit/16 && b.peak.Load() >= b.limit/4 && b.freeing.CompareAndSwap(false, true) {
		// Wait a moment: a burst is rarely over with its first answer,
		// and memory given back now would be faulted in again at once.
		time.AfterFunc(b.settle, b.returnMemory)
	}
}

// returnMemory gives the memory of a finished burst back to the OS, unless
// writes hold much of the budget again (the next quiet moment retries).
func (b *Budget) returnMemory() {
	defer b.freeing.Store(false)
	if b.held.Load() > b.limit/16 {
		return
	}
	b.peak.Store(b.held.Load())
	b.freeOS()
}

// returnMemoryToOS collects twice, so that idle pooled buffers (which
// survive one collection in sync.Pool's victim cache) are freed too, and
// returns the free heap to the OS.
func returnMemoryToOS() {
	runtime.GC()
	debug.FreeOSMemory()
}

// lease is what one request holds of a Budget. It is not safe for
// concurrent use; close releases everything.
type lease struct {
	b    *Budget
	ctx  context.Context
	held int64
	// deadline bounds all the waits of one request together; it is set
	// by the first wait.
	deadline time.Time
}

func (b *Budget) lease(ctx context.Context) lease { return lease{b: b, ctx: ctx} }

// reserve takes n more bytes, waiting for them until the request's
// deadline. It returns errOverBudget at once when the request would hold
// more than the whole budget, errBudgetBusy when the wait runs out.
func (l *lease) reserve(n int64) error {
	if n <= 0 {
		return nil
	}
	if l.held+n > l.b.limit {
		return errOverBudget
	}
	if !l.b.sem.TryAcquire(n) {
		if l.deadline.IsZero() {
			l.deadline = time.Now().Add(l.b.wait)
		}
		ctx, cancel := context.WithDeadline(l.ctx, l.deadline)
		err := l.b.sem.Acquire(ctx, n)
		cancel()
		if err != nil {
			return errBudgetBusy
		}
	}
	l.held += n
	l.b.add(n)
	return nil
}

// release gives n bytes back.
func (l *lease) release(n int64) {
	if n <= 0 {
		return
	}
	if n > l.held {
		panic("ingest: lease releases more than it holds")
	}
	l.held -= n
	l.b.sem.Release(n)
	l.b.add(-n)
}

// close releases everything the lease holds.
func (l *lease) close() { l.release(l.held) }
