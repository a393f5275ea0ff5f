package query

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/prompb"
)

// Metrics counts queries by endpoint, class, status and backend.
type Metrics struct {
	requests     *prometheus.CounterVec
	seconds      *prometheus.HistogramVec
	failures     *prometheus.CounterVec
	errorAnswers *prometheus.CounterVec
	// Prometheus remote read answers (2xx) decoded to count what they
	// returned.
	promSeries, promSamples, promUncounted prometheus.Counter
}

// NewMetrics registers the query metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "influxgate_query_requests_total", Help: "Queries answered, by endpoint (query, flux), class (read, change, error), status and backend."},
			[]string{"endpoint", "class", "status", "backend"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "influxgate_query_duration_seconds", Help: "Time to answer a query (to the end of the streamed answer).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18)}, []string{"endpoint", "class"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "influxgate_query_backend_failures_total",
			Help: "Reads a backend failed: no answer (connection error, timeout, cut off), or a 5xx answer that gave way to another backend's."},
			[]string{"backend"}),
		errorAnswers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "influxgate_query_backend_error_answers_total",
			Help: "5xx answers of a backend passed to the client as it gave them (such as a Flux error), because no backend answered better; not counted as backend failures."},
			[]string{"backend", "status"}),
	}
	m.promSeries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "influxgate_query_prom_read_series_total", Help: "Series returned by Prometheus remote reads (/api/v1/prom/read)."})
	m.promSamples = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "influxgate_query_prom_read_samples_total", Help: "Samples returned by Prometheus remote reads (/api/v1/prom/read)."})
	m.promUncounted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "influxgate_query_prom_read_uncounted_total",
		Help: "Remote read answers passed on without counting their series and samples: larger than 32 MiB, or not a snappy ReadResponse."})
	reg.MustRegister(m.requests, m.seconds, m.failures, m.errorAnswers, m.promSeries, m.promSamples, m.promUncounted)
	return m
}

func (m *Metrics) observe(endpoint, class string, status int, backend string, start time.Time) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(endpoint, class, strconv.Itoa(status), backend).Inc()
	m.seconds.WithLabelValues(endpoint, class).Observe(time.Since(start).Seconds())
}

func (m *Metrics) errorAnswer(name string, status int) {
	if m != nil {
		m.errorAnswers.WithLabelValues(name, strconv.Itoa(status)).Inc()
	}
}

func (m *Metrics) backendFailed(name string) {
	if m != nil {
		m.failures.WithLabelValues(name).Inc()
	}
}

// promRead counts the series and samples of a remote read answer that t
// kept.
func (m *Metrics) promRead(t *teeWriter) {
	if m == nil || t.status < 200 || t.status > 299 {
		return
	}
	if t.over {
		m.promUncounted.Inc()
		return
	}
	series, samples, ok := promSamples(t.buf.Bytes())
	if !ok {
		m.promUncounted.Inc()
		return
	}
	m.promSeries.Add(float64(series))
	m.promSamples.Add(float64(samples))
}

// promMerged counts the series and samples of a remote read answer merged
// from the shards of a sharded listener.
func (m *Metrics) promMerged(resp *prompb.ReadResponse) {
	if m == nil {
		return
	}
	for _, res := range resp.Results {
		m.promSeries.Add(float64(len(res.Timeseries)))
		for _, ts := range res.Timeseries {
			m.promSamples.Add(float64(len(ts.Samples)))
		}
	}
}
