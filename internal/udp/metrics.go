package udp

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exports the counters of every tracked listener at scrape time:
// the listeners count once, in atomics, for both /health and /metrics, and
// the packet path touches no Prometheus structure.
type Metrics struct {
	mu        sync.Mutex
	listeners []*Listener

	packets    *prometheus.Desc
	bytes      *prometheus.Desc
	lines      *prometheus.Desc
	stamped    *prometheus.Desc
	logged     *prometheus.Desc
	records    *prometheus.Desc
	forwarded  *prometheus.Desc
	datagrams  *prometheus.Desc
	dropped    *prometheus.Desc
	readErrors *prometheus.Desc
	panics     *prometheus.Desc
}

// NewMetrics registers the UDP metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	l, lo := []string{"listener"}, []string{"listener", "output"}
	m := &Metrics{
		packets:    prometheus.NewDesc("influxgate_udp_packets_received_total", "UDP datagrams received.", l, nil),
		bytes:      prometheus.NewDesc("influxgate_udp_bytes_received_total", "Bytes of UDP datagrams received.", l, nil),
		lines:      prometheus.NewDesc("influxgate_udp_lines_received_total", "Point lines received (blank lines and comments excluded).", l, nil),
		stamped:    prometheus.NewDesc("influxgate_udp_lines_stamped_total", "Received lines without a timestamp that influxgate stamped.", l, nil),
		logged:     prometheus.NewDesc("influxgate_udp_lines_logged_total", "Lines appended to the write log for the listener's HTTP outputs.", l, nil),
		records:    prometheus.NewDesc("influxgate_udp_log_records_total", "Log records the listener's lines were batched into.", l, nil),
		forwarded:  prometheus.NewDesc("influxgate_udp_lines_forwarded_total", "Lines sent to a UDP output.", lo, nil),
		datagrams:  prometheus.NewDesc("influxgate_udp_datagrams_sent_total", "Datagrams sent to a UDP output.", lo, nil),
		dropped:    prometheus.NewDesc("influxgate_udp_dropped_lines_total", "Lines dropped, by reason; output is empty for drops before fan-out (malformed, log_busy, log_unavailable).", append(lo, "reason"), nil),
		readErrors: prometheus.NewDesc("influxgate_udp_read_errors_total", "Failed reads from the UDP socket.", l, nil),
		panics:     prometheus.NewDesc("influxgate_udp_packet_panics_total", "Packets lost to a panic in their processing (a bug).", l, nil),
	}
	reg.MustRegister(m)
	return m
}

// Track adds a listener to the collector.
func (m *Metrics) Track(l *Listener) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.listeners = append(m.listeners, l)
	m.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.packets, m.bytes, m.lines, m.stamped, m.logged, m.records,
		m.forwarded, m.datagrams, m.dropped, m.readErrors, m.panics} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	ls := append([]*Listener(nil), m.listeners...)
	m.mu.Unlock()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, l := range ls {
		s := l.Stats()
		counter(m.packets, s.Packets, s.Name)
		counter(m.bytes, s.Bytes, s.Name)
		counter(m.lines, s.Lines, s.Name)
		counter(m.stamped, s.Stamped, s.Name)
		counter(m.readErrors, s.ReadErrors, s.Name)
		counter(m.panics, s.Panics, s.Name)
		if s.Database != "" {
			counter(m.logged, s.Logged, s.Name)
			counter(m.records, s.LogRecords, s.Name)
		}
		for reason, n := range s.Dropped {
			counter(m.dropped, n, s.Name, "", reason)
		}
		for _, o := range s.Outputs {
			counter(m.forwarded, o.Lines, s.Name, o.Name)
			counter(m.datagrams, o.Datagrams, s.Name, o.Name)
			for reason, n := range o.Dropped {
				counter(m.dropped, n, s.Name, o.Name, reason)
			}
		}
	}
}
