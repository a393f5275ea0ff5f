package ingest

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts write requests and points by endpoint and status.
type Metrics struct {
	requests *prometheus.CounterVec
	points   *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
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
	}
	reg.MustRegister(m.requests, m.points, m.seconds)
	return m
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
