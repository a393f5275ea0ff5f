package relay

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the relay's Prometheus instruments. Counters that the
// workers keep anyway (for /health) are exported by a collector at scrape
// time rather than counted twice.
type Metrics struct {
	appendSeconds   *prometheus.HistogramVec
	appendBytes     *prometheus.CounterVec
	appendErrors    *prometheus.CounterVec
	refusedFull     *prometheus.CounterVec
	requestSeconds  *prometheus.HistogramVec
	backfillRuns    *prometheus.CounterVec
	backfillIvals   *prometheus.CounterVec
	mu              sync.Mutex
	deadLetteredVec *prometheus.CounterVec
	relays          []*Relay
	stateDesc       *prometheus.Desc
	backlogRecords  *prometheus.Desc
	backlogBytes    *prometheus.Desc
	backlogAge      *prometheus.Desc
	backlogLimit    *prometheus.Desc
	deliveredPoints *prometheus.Desc
	requests        *prometheus.Desc
	retries         *prometheus.Desc
	rejectedPoints  *prometheus.Desc
	droppedPoints   *prometheus.Desc
	deadLetters     *prometheus.Desc
	diverged        *prometheus.Desc
	logBytes        *prometheus.Desc
	logSegments     *prometheus.Desc
	logRecords      *prometheus.Desc
	logAppends      *prometheus.Desc
	logFsyncs       *prometheus.Desc
	logFsyncSeconds *prometheus.Desc
	logFsyncMax     *prometheus.Desc
	logFsyncErrors  *prometheus.Desc
	logCorrupt      *prometheus.Desc
}

// NewMetrics registers the relay metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	lb := []string{"listener", "backend"}
	m := &Metrics{
		appendSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "influxgate_log_append_duration_seconds", Help: "Time to append a write to the log, fsync included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"listener"}),
		appendBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "influxgate_log_appended_bytes_total", Help: "Bytes appended to the write log."}, []string{"listener"}),
		appendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "influxgate_log_append_errors_total", Help: "Appends that failed (the write was answered 503)."}, []string{"listener"}),
		refusedFull: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "influxgate_relay_writes_refused_full_total", Help: "Writes answered 503 because a backlog was at its cap with overflow = reject."}, []string{"listener"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "influxgate_backend_request_duration_seconds", Help: "Latency of write requests to backends, by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"listener", "backend", "outcome"}),
		backfillRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "influxgate_backend_cq_backfill_runs_total",
			Help: "Continuous-query backfill runs on the backend, by outcome (done; partial: some queries refused; retry: a passing failure, run again)."},
			append(lb, "outcome")),
		backfillIvals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "influxgate_backend_cq_backfill_intervals_total",
			Help: "GROUP BY time() intervals of continuous queries recomputed on the backend for points it received late."}, lb),
		deadLetteredVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "influxgate_backend_dead_lettered_records_total", Help: "Records moved to the backend's dead-letter store, by reason."},
			append(lb, "reason")),
		stateDesc:       prometheus.NewDesc("influxgate_backend_state", "1 for the backend's current delivery state (live, replaying, down).", append(lb, "state"), nil),
		backlogRecords:  prometheus.NewDesc("influxgate_backend_backlog_records", "Records in the log not yet delivered to the backend.", lb, nil),
		backlogBytes:    prometheus.NewDesc("influxgate_backend_backlog_bytes", "Bytes of log not yet delivered to the backend.", lb, nil),
		backlogAge:      prometheus.NewDesc("influxgate_backend_backlog_oldest_age_seconds", "Age of the oldest record not yet delivered (0 when caught up).", lb, nil),
		backlogLimit:    prometheus.NewDesc("influxgate_backend_backlog_limit_bytes", "The backend's backlog cap (buffer-size-mb) in bytes; 0 when only the disk limits it.", lb, nil),
		deliveredPoints: prometheus.NewDesc("influxgate_backend_delivered_points_total", "Points the backend accepted.", lb, nil),
		requests:        prometheus.NewDesc("influxgate_backend_requests_total", "Write requests sent to the backend.", lb, nil),
		retries:         prometheus.NewDesc("influxgate_backend_retries_total", "Transient failures retried.", lb, nil),
		rejectedPoints:  prometheus.NewDesc("influxgate_backend_rejected_points_total", "Points the backend refused as bad data, by reason.", append(lb, "reason"), nil),
		droppedPoints:   prometheus.NewDesc("influxgate_backend_dropped_points_total", "Points skipped for the backend (overflow policy, corrupt log record), by reason.", append(lb, "reason"), nil),
		deadLetters:     prometheus.NewDesc("influxgate_backend_dead_letter_records", "Records in the backend's dead-letter store.", lb, nil),
		diverged:        prometheus.NewDesc("influxgate_backend_diverged", "1 when the overflow policy skipped records for the backend (it misses data).", lb, nil),
		logBytes:        prometheus.NewDesc("influxgate_log_size_bytes", "Bytes of log segments on disk.", []string{"listener"}, nil),
		logSegments:     prometheus.NewDesc("influxgate_log_segments", "Log segments on disk.", []string{"listener"}, nil),
		logRecords:      prometheus.NewDesc("influxgate_log_records", "Records in the log (appended and not yet deleted with their segment).", []string{"listener"}, nil),
		logAppends:      prometheus.NewDesc("influxgate_log_appended_records_total", "Records appended to the log since start.", []string{"listener"}, nil),
		logFsyncs:       prometheus.NewDesc("influxgate_log_fsyncs_total", "fsyncs of log segments since start.", []string{"listener"}, nil),
		logFsyncSeconds: prometheus.NewDesc("influxgate_log_fsync_seconds_total", "Time spent in fsync of log segments; divide its rate by that of influxgate_log_fsyncs_total for the mean latency.", []string{"listener"}, nil),
		logFsyncMax:     prometheus.NewDesc("influxgate_log_fsync_max_seconds", "The slowest fsync of a log segment since start.", []string{"listener"}, nil),
		logFsyncErrors:  prometheus.NewDesc("influxgate_log_fsync_errors_total", "fsyncs of log segments that failed.", []string{"listener"}, nil),
		logCorrupt:      prometheus.NewDesc("influxgate_log_corrupt_records_total", "Damaged or missing log records found since start (skipped and counted as dropped).", []string{"listener"}, nil),
	}
	reg.MustRegister(m.appendSeconds, m.appendBytes, m.appendErrors, m.refusedFull, m.requestSeconds, m.deadLetteredVec,
		m.backfillRuns, m.backfillIvals, m)
	return m
}

// dropReasons are the reasons of BackendStats.Dropped.
var dropReasons = []string{"overflow", "corrupt"}

// Track adds a relay to the collector, and creates its error counters at
// 0 so that alerts on their increase see the first error.
func (m *Metrics) Track(r *Relay) {
	if m != nil {
		m.mu.Lock()
		m.relays = append(m.relays, r)
		m.mu.Unlock()
		m.appendErrors.WithLabelValues(r.Name())
		m.refusedFull.WithLabelValues(r.Name())
	}
}

// Untrack removes a relay (closed by a reload) from the collector.
func (m *Metrics) Untrack(r *Relay) {
	if m != nil {
		m.mu.Lock()
		m.relays = slices.DeleteFunc(m.relays, func(x *Relay) bool { return x == r })
		m.mu.Unlock()
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.stateDesc, m.backlogRecords, m.backlogBytes, m.backlogAge, m.backlogLimit,
		m.deliveredPoints, m.requests, m.retries, m.rejectedPoints, m.droppedPoints, m.deadLetters,
		m.diverged, m.logBytes, m.logSegments, m.logRecords, m.logAppends, m.logFsyncs, m.logFsyncSeconds,
		m.logFsyncMax, m.logFsyncErrors, m.logCorrupt} {
		ch <- d
	}
}

// Collect implements prometheus.Collector from the relays' Stats.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	m.mu.Lock()
	relays := slices.Clone(m.relays)
	m.mu.Unlock()
	for _, r := range relays {
		s := r.Stats()
		ch <- prometheus.MustNewConstMetric(m.logBytes, gauge, float64(s.LogBytes), s.Name)
		ch <- prometheus.MustNewConstMetric(m.logSegments, gauge, float64(s.Segments), s.Name)
		records := 0.0
		if s.LastIndex >= s.FirstIndex && s.LastIndex > 0 {
			records = float64(s.LastIndex - s.FirstIndex + 1)
		}
		ch <- prometheus.MustNewConstMetric(m.logRecords, gauge, records, s.Name)
		ch <- prometheus.MustNewConstMetric(m.logAppends, counter, float64(s.Log.Appends), s.Name)
		ch <- prometheus.MustNewConstMetric(m.logFsyncs, counter, float64(s.Log.Fsyncs), s.Name)
		ch <- prometheus.MustNewConstMetric(m.logFsyncSeconds, counter, s.Log.FsyncTime.Seconds(), s.Name)
		ch <- prometheus.MustNewConstMetric(m.logFsyncMax, gauge, s.Log.FsyncMax.Seconds(), s.Name)
		ch <- prometheus.MustNewConstMetric(m.logFsyncErrors, counter, float64(s.Log.FsyncErrors), s.Name)
		ch <- prometheus.MustNewConstMetric(m.logCorrupt, counter, float64(s.Log.CorruptRecords), s.Name)
		for _, b := range s.Backends {
			l := []string{s.Name, b.Name}
			for _, st := range []State{StateLive, StateReplaying, StateDown} {
				v := 0.0
				if b.State == st {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(m.stateDesc, gauge, v, s.Name, b.Name, st.String())
			}
			ch <- prometheus.MustNewConstMetric(m.backlogRecords, gauge, float64(b.Backlog.Records), l...)
			ch <- prometheus.MustNewConstMetric(m.backlogBytes, gauge, float64(b.Backlog.Bytes), l...)
			ch <- prometheus.MustNewConstMetric(m.backlogAge, gauge, b.Backlog.OldestAge.Seconds(), l...)
			ch <- prometheus.MustNewConstMetric(m.backlogLimit, gauge, float64(b.BufferSizeBytes), l...)
			ch <- prometheus.MustNewConstMetric(m.deliveredPoints, counter, float64(b.Delivered), l...)
			ch <- prometheus.MustNewConstMetric(m.requests, counter, float64(b.Requests), l...)
			ch <- prometheus.MustNewConstMetric(m.retries, counter, float64(b.Retries), l...)
			for reason, n := range b.Rejected {
				ch <- prometheus.MustNewConstMetric(m.rejectedPoints, counter, float64(n), s.Name, b.Name, reason)
			}
			// The drop reasons are few and known: export them at 0 from the
			// start, so that increase() sees the first drop (a series that
			// appears with its first value shows no increase).
			for _, reason := range dropReasons {
				if _, ok := b.Dropped[reason]; !ok {
					ch <- prometheus.MustNewConstMetric(m.droppedPoints, counter, 0, s.Name, b.Name, reason)
				}
			}
			for reason, n := range b.Dropped {
				ch <- prometheus.MustNewConstMetric(m.droppedPoints, counter, float64(n), s.Name, b.Name, reason)
			}
			ch <- prometheus.MustNewConstMetric(m.deadLetters, gauge, float64(b.DeadLetters), l...)
			div := 0.0
			if !b.DivergedSince.IsZero() {
				div = 1
			}
			ch <- prometheus.MustNewConstMetric(m.diverged, gauge, div, l...)
		}
	}
}

func (m *Metrics) observeAppend(listener string, n int, d time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.appendErrors.WithLabelValues(listener).Inc()
		return
	}
	m.appendSeconds.WithLabelValues(listener).Observe(d.Seconds())
	m.appendBytes.WithLabelValues(listener).Add(float64(n))
}

func (m *Metrics) rejectedFull(listener string) {
	if m != nil {
		m.refusedFull.WithLabelValues(listener).Inc()
	}
}
