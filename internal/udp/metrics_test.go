package udp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/influxgate/influxgate/internal/lineproto"
)

func TestMetricsCountPacketsLinesAndDropsByReason(t *testing.T) {
	capt := newCapture(t)
	l := startListener(t, Options{Config: udpConfig("n", 512, capt.addr()), Now: fixedClock(receipt)})
	reg := prometheus.NewRegistry()
	NewMetrics(reg).Track(l)
	conn := sender(t, l)
	send(t, conn, "a f=1\nbad\nb f=2 5\n# comment\n")
	send(t, conn, `long s="`+field(lineproto.MaxDatagram-18)+`"`)
	send(t, conn, strings.Repeat("c f=3 5\n", 100)) // 800 bytes: 2 datagrams
	capt.datagrams(t, 102)
	waitPackets(t, l, 3)
	l.Close()

	want := map[string]float64{
		`influxgate_udp_packets_received_total{listener="udp"}`:                           3,
		`influxgate_udp_lines_received_total{listener="udp"}`:                             104,
		`influxgate_udp_lines_stamped_total{listener="udp"}`:                              2,
		`influxgate_udp_lines_forwarded_total{listener="udp",output="a"}`:                 102,
		`influxgate_udp_datagrams_sent_total{listener="udp",output="a"}`:                  3,
		`influxgate_udp_dropped_lines_total{listener="udp",output="",reason="malformed"}`: 1,
		`influxgate_udp_dropped_lines_total{listener="udp",output="a",reason="too_long"}`: 1,
		`influxgate_udp_read_errors_total{listener="udp"}`:                                0,
		`influxgate_udp_packet_panics_total{listener="udp"}`:                              0,
	}
	got := gather(t, reg)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want)+1 { // + bytes received
		t.Errorf("series = %v", got)
	}
	for k := range got {
		if strings.Contains(k, "logged") || strings.Contains(k, "log_records") {
			t.Errorf("a listener without HTTP outputs exports %s", k)
		}
	}
}

// gather returns every sample of reg as name{labels} -> value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetCounter().GetValue()
		}
	}
	return out
}
