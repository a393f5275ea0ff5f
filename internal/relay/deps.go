package relay

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/record"
)

// Sender is what a delivery worker needs of its backend: *backend.Client.
// Tests give a worker a fake one.
type Sender interface {
	// Write sends one batch of record bodies and classifies the answer.
	Write(ctx context.Context, b *backend.Batch) backend.Result
	// Exec applies one schema change (a KindQuery record).
	Exec(ctx context.Context, rec *record.Record) backend.Result
	// Probe tells whether the backend is up (an idle backend's ping).
	Probe(ctx context.Context) error
	Close()
}

// verdicts is where workers report what their backend said about each
// record, and where a worker that meets a refusal only its backend may
// have asks what the others said (the tracker).
type verdicts interface {
	report(idx, bit uint64, res *backend.Result)
	// await waits until every backend in mask gave a verdict on idx, or
	// timeout passes, and returns what they said.
	await(ctx context.Context, idx, mask uint64, timeout time.Duration) outcome
}

// peers tells a worker about the other backends of its set: of those a
// record goes to, which besides itself, and which are caught up now.
type peers interface {
	others(rec *record.Record, self uint64) uint64
	live() uint64
}

// tail is what a worker needs of the log besides its reader.
type tail interface {
	LastIndex() uint64
	EndOffset() int64
	Notify(after uint64) <-chan struct{}
	NewReader(from uint64) (LogReader, error)
}

// workerConfig is a worker's own settings, parsed and with defaults.
type workerConfig struct {
	name     string
	bit      uint64
	location string // redacted, for stats
	// maxBatch bounds a request built by merging queued records (bytes).
	maxBatch int
	// capBytes is the backlog cap (0: none); with dropOldest the worker
	// skips the oldest records beyond it, otherwise the relay refuses
	// appends while it is reached.
	capBytes   int64
	capMB      int
	dropOldest bool
	// maxDelay is the longest retry backoff and the idle ping period.
	maxDelay time.Duration
	// liveLag: a record delivered within this of its receipt keeps the
	// backend live; an older one means it is replaying.
	liveLag time.Duration
	// deadLetterAfter: how long a record that only this backend refuses
	// is retried before it goes to the dead-letter store.
	deadLetterAfter time.Duration
}

// workerMetrics are a worker's instruments, already labelled with its
// listener and backend. The zero value records nothing.
type workerMetrics struct {
	requestSeconds prometheus.ObserverVec // by outcome
	deadLettered   *prometheus.CounterVec // by reason
	backfillRuns   *prometheus.CounterVec // by outcome
	backfillIvals  prometheus.Counter
}

func (m workerMetrics) backfillRun(outcome string, intervals int64) {
	if m.backfillRuns != nil {
		m.backfillRuns.WithLabelValues(outcome).Inc()
		m.backfillIvals.Add(float64(intervals))
	}
}

func (m workerMetrics) observeRequest(outcome string, d time.Duration) {
	if m.requestSeconds != nil {
		m.requestSeconds.WithLabelValues(outcome).Observe(d.Seconds())
	}
}

func (m workerMetrics) deadLetter(reason string) {
	if m.deadLettered != nil {
		m.deadLettered.WithLabelValues(reason).Inc()
	}
}

// workerDeps are a worker's collaborators.
type workerDeps struct {
	sender   Sender
	source   tail
	verdicts verdicts
	peers    peers
	metrics  workerMetrics
	dead     DeadLetterStore
	// store keeps the divergence mark and the pending backfill.
	store  StateStore
	logger *slog.Logger

	// With a shared log: the lease this node must hold to deliver, this
	// node's name, and where delivery resumes once it holds the lease
	// (the cursor the previous deliverer stored).
	lease  Lease
	node   string
	resume func() uint64
}
