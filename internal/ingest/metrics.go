package ingest

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts write requests and points by endpoint and status, and
// shows the write memory budget.
type Metrics struct {
	requests *prometheus.CounterVec
	points   *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	refusals *prometheus.CounterVec
	// promSamples counts the samples of remote writes that were not
	// written, by reason.
	promSamples *prometheus.CounterVec
	// budget is the process's write memory budget, read when scraped (a
	// gauge set on every reservation could be left stale by two
	// concurrent releases).
	budget atomic.Pointer[Budget]
	// accepted is the total of points answered 2xx, for the status page's
	// write rate (a CounterVec cannot be read back cheaply).
	accepted atomic.Uint64
}

// NewMetrics registers the ingest metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "influxgate_http_write_requests_total", Help: "Write requests answered, by endpoint and status."},
			[]string{"endpoint", "status"}),
		points: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "influxgate_http_write_points_total", Help: "Points received in write requests, by endpoint and status."},
			[]string{"endpoint", "status"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "influxgate_http_write_duration_seconds", Help: "Time from receipt of a write body to its answer.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}, []string{"endpoint"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "influxgate_http_write_memory_refused_total",
			Help: `Writes refused by the write memory budget: "busy" (503, the budget stayed full for the wait) or "too_large" (413, the write needs more than the whole budget).`},
			[]string{"reason"}),
	}
	m.promSamples = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "influxgate_http_prom_write_samples_dropped_total",
		Help: `Samples of Prometheus remote writes not written, by reason: "nan" and "inf" (dropped as InfluxDB 1.8 drops them, the write answered 204), "unrelayable" (a metric name or label that line protocol cannot carry; the write answered 400 partial write).`},
		[]string{"reason"})
	memory := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "influxgate_http_write_memory_bytes",
		Help: "Bytes the writes in flight hold of the write memory budget: bodies read and inflated, stamped copies, log records being built."},
		func() float64 { return m.budgetValue((*Budget).Held) })
	limit := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "influxgate_http_write_memory_budget_bytes", Help: "The write memory budget (write-memory-budget-mb), in bytes."},
		func() float64 { return m.budgetValue((*Budget).Limit) })
	reg.MustRegister(m.requests, m.points, m.seconds, memory, limit, m.refusals, m.promSamples)
	return m
}

func (m *Metrics) budgetValue(f func(*Budget) int64) float64 {
	if b := m.budget.Load(); b != nil {
		return float64(f(b))
	}
	return 0
}

// track makes b the budget the metrics show.
func (m *Metrics) track(b *Budget) {
	if m != nil {
		m.budget.Store(b)
	}
}

func (m *Metrics) refused(reason string) {
	if m != nil {
		m.refusals.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) promDropped(b promBatch) {
	if m == nil {
		return
	}
	for _, d := range [...]struct {
		reason string
		n      int
	}{{"nan", b.nan}, {"inf", b.inf}, {"unrelayable", b.unrelayable}} {
		if d.n > 0 {
			m.promSamples.WithLabelValues(d.reason).Add(float64(d.n))
		}
	}
}

func (m *Metrics) observe(endpoint string, status, points int, start time.Time) {
	if m == nil {
		return
	}
	s := strconv.Itoa(status)
	m.requests.WithLabelValues(endpoint, s).Inc()
	if points > 0 {
		m.points.WithLabelValues(endpoint, s).Add(float64(points))
		if status >= 200 && status < 300 {
			m.accepted.Add(uint64(points))
		}
	}
	if !start.IsZero() {
		m.seconds.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	}
}

// AcceptedPoints returns the points answered 2xx since start, on every
// endpoint and listener.
func (m *Metrics) AcceptedPoints() uint64 {
	if m == nil {
		return 0
	}
	return m.accepted.Load()
}
