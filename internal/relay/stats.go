package relay

import (
	"maps"
	"time"

	"github.com/influxgate/influxgate/internal/wal"
)

// Backlog is what a backend still has to receive.
type Backlog struct {
	Records uint64
	Bytes   int64
	// OldestAge is how long ago the oldest undelivered record arrived.
	OldestAge time.Duration
}

// BackendStats is a snapshot of one backend's delivery, for /health, the
// status page and /metrics.
type BackendStats struct {
	Name            string
	Location        string
	State           State
	Backlog         Backlog
	Delivered       uint64            // points
	Requests        uint64            // requests sent
	Retries         uint64            // transient failures retried
	Rejected        map[string]uint64 // points refused as bad data, by reason
	Dropped         map[string]uint64 // points skipped (overflow, corrupt), by reason
	DeadLetters     uint64            // records in the dead-letter store
	LastError       string
	LastErrorAt     time.Time
	DivergedSince   time.Time // zero unless the overflow policy skipped records
	BufferSizeBytes int64     // 0 = no cap
	// CursorNote says why delivery did not resume at the stored cursor
	// (a damaged cursor file, say); "" normally.
	CursorNote string
	// Backfill is the continuous-query backfill; nil when it is off.
	Backfill *BackfillStatus
	// Deliverer names the node that delivers to the backend when the log
	// is shared by several nodes ("" with a local log); Standby is true
	// when that is another node, whose reports State, Backlog, LastError
	// and DivergedSince then mirror (the counters are this node's own).
	Deliverer string
	Standby   bool
}

// Stats is a snapshot of a relay.
type Stats struct {
	Name       string
	FirstIndex uint64
	LastIndex  uint64
	LogBytes   int64
	Segments   int
	Backends   []BackendStats
	// Log holds the log's own counters (appends, fsyncs, cache), for
	// /metrics and the status page.
	Log wal.Stats
}

func (r *Relay) backlog(w *worker) Backlog {
	b := Backlog{Bytes: r.log.EndOffset() - w.nextOffset.Load()}
	if last, next := r.log.LastIndex(), w.next.Load(); last >= next {
		b.Records = last - next + 1
	}
	if b.Bytes < 0 {
		b.Bytes = 0
	}
	if ns := w.oldest.Load(); ns != 0 && b.Records > 0 {
		b.OldestAge = time.Since(time.Unix(0, ns))
	}
	return b
}

// Stats returns a snapshot of the relay and every backend.
func (r *Relay) Stats() Stats {
	ls := r.log.Stats()
	s := Stats{Name: r.opts.Name, FirstIndex: r.log.FirstIndex(), LastIndex: r.log.LastIndex(),
		LogBytes: ls.DiskBytes, Segments: ls.Segments, Log: ls}
	for _, w := range r.set.Load().workers {
		w.mu.Lock()
		b := BackendStats{
			Name: w.name, Location: w.location, State: w.State(), Backlog: r.backlog(w),
			Delivered: w.delivered.Load(), Requests: w.requests.Load(), Retries: w.retries.Load(),
			Rejected: maps.Clone(w.rejected), Dropped: maps.Clone(w.dropped),
			DeadLetters: w.deadLetters.Load(), LastError: w.lastErr, LastErrorAt: w.lastErrAt,
			BufferSizeBytes: w.capBytes, CursorNote: w.cursorNote,
			Deliverer: w.deliverer, Standby: w.standby.Load(),
		}
		b.Backfill = w.cq.status()
		w.mu.Unlock()
		if ns := w.diverged.Load(); ns != 0 {
			b.DivergedSince = time.Unix(0, ns)
		}
		s.Backends = append(s.Backends, b)
	}
	return s
}

// Name is the relay's listener name.
func (r *Relay) Name() string { return r.opts.Name }

// Freshness is how current one backend is, for query routing.
type Freshness struct {
	Name  string
	State State
	// Lag is the age of the oldest record the backend has not received
	// (0 when it has everything).
	Lag time.Duration
}

// Freshness reports every backend's state and lag, cheaply.
func (r *Relay) Freshness() []Freshness {
	ws := r.set.Load().workers
	out := make([]Freshness, len(ws))
	last := r.log.LastIndex()
	for i, w := range ws {
		out[i] = Freshness{Name: w.name, State: w.State()}
		if w.next.Load() <= last {
			if ns := w.oldest.Load(); ns != 0 {
				out[i].Lag = time.Since(time.Unix(0, ns))
			} else {
				// Records are waiting but not read yet: at least the
				// time since the worker last had nothing to do.
				out[i].Lag = time.Millisecond
			}
		}
	}
	return out
}
