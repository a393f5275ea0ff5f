package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// udpHealth is the udp section of influxgate's /health.
type udpHealth struct {
	UDP []struct {
		Name    string            `json:"name"`
		Packets uint64            `json:"packets"`
		Lines   uint64            `json:"lines"`
		Logged  uint64            `json:"logged_lines"`
		Dropped map[string]uint64 `json:"dropped_lines"`
		Outputs []struct {
			Name  string `json:"name"`
			Kind  string `json:"kind"`
			Lines uint64 `json:"forwarded_lines"`
			State string `json:"state"`
		} `json:"outputs"`
	} `json:"udp"`
}

func (g *gate) udpHealth(t testing.TB) udpHealth {
	t.Helper()
	r := do(t, http.MethodGet, g.url+"/health", "")
	var h udpHealth
	if err := json.Unmarshal([]byte(r.Body), &h); err != nil || len(h.UDP) != 1 {
		t.Fatalf("/health: %v: %s", err, r.Body)
	}
	return h
}

// waitUDPOutputState waits until /health shows the UDP listener's output
// in the given state.
func (g *gate) waitUDPOutputState(t testing.TB, output, state string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, o := range g.udpHealth(t).UDP[0].Outputs {
			if o.Name == output && o.State == state {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("output %s never became %s: %+v", output, state, g.udpHealth(t).UDP[0].Outputs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sendUDP sends n packets of 10 lines without timestamps, each line its
// own series, numbered from first, and a malformed line in each packet.
func sendUDP(t testing.TB, addr string, first, packets int) {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for p := range packets {
		var b strings.Builder
		for i := range 10 {
			fmt.Fprintf(&b, "udp,n=%d v=%di\n", first+p*10+i, p)
		}
		b.WriteString("not a point\n")
		if _, err := conn.Write([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
		// Loopback drops datagrams when a socket buffer overflows; a
		// short pause keeps the test about influxgate, not the kernel.
		time.Sleep(time.Millisecond)
	}
}

// TestUDPReachesHTTPOutputsThroughTheLogAcrossAnOutage: a [[udp]] section
// with two HTTP outputs and one UDP output. One HTTP backend is down while
// packets arrive; once it is back it receives them from the log, and all
// three backends hold the same points with influxgate's timestamps.
func TestUDPReachesHTTPOutputsThroughTheLogAcrossAnOutage(t *testing.T) {
	a := testinflux.Start(t, testinflux.Options{})
	b := testinflux.Start(t, testinflux.Options{})
	c := testinflux.Start(t, testinflux.Options{UDP: &testinflux.UDPOptions{Database: "udpdb", Precision: "ms"}})
	a.CreateDatabase(t, "udpdb")
	b.CreateDatabase(t, "udpdb")

	cfg := newConfig(t, a, b)
	cfg.UDP = []config.UDPConfig{{Name: "udp", BindAddr: "127.0.0.1:0", Precision: "ms", Database: "udpdb",
		Outputs: []config.OutputConfig{
			output("a", a.URL()), output("b", b.URL()),
			{Name: "c", Location: config.Location(c.UDPAddr()), MTU: 512},
		}}}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	g := startGate(t, cfg)
	addr := g.srv.UDPAddrs()[0]

	sendUDP(t, addr, 0, 20)
	for _, s := range []*testinflux.Server{a, b, c} {
		s.WaitCount(t, "udpdb", "udp", 200, 20*time.Second)
	}

	b.Stop(t)
	sendUDP(t, addr, 200, 30)
	a.WaitCount(t, "udpdb", "udp", 500, 20*time.Second)
	c.WaitCount(t, "udpdb", "udp", 500, 20*time.Second)
	h := g.udpHealth(t).UDP[0]
	if h.Packets != 50 || h.Lines != 550 || h.Dropped["malformed"] != 50 {
		t.Errorf("udp health = %+v, want 50 packets, 550 lines, 50 malformed", h)
	}
	g.waitUDPOutputState(t, "b", "down")

	b.Restart(t)
	b.WaitCount(t, "udpdb", "udp", 500, 30*time.Second)
	pts := identical(t, "udpdb", a, b, c)
	if len(pts) != 500 {
		t.Fatalf("%d points, want 500", len(pts))
	}
	for _, p := range pts[:3] {
		if !strings.HasSuffix(p, "000000") {
			t.Errorf("%s: not a millisecond timestamp", p)
		}
	}
	h = g.udpHealth(t).UDP[0]
	if h.Logged != 500 {
		t.Errorf("logged lines = %d, want 500", h.Logged)
	}
	for _, o := range h.Outputs {
		if o.Kind == "udp" && o.Lines != 500 {
			t.Errorf("UDP output forwarded %d lines, want 500", o.Lines)
		}
	}
	metrics := do(t, http.MethodGet, g.url+"/metrics", "").Body
	for _, want := range []string{
		`influxgate_udp_lines_logged_total{listener="udp"} 500`,
		`influxgate_udp_lines_forwarded_total{listener="udp",output="c"} 500`,
		`influxgate_udp_dropped_lines_total{listener="udp",output="",reason="malformed"} 50`,
		`influxgate_backend_delivered_points_total{backend="b",listener="udp"} 500`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestUDPLinesHeldAtShutdownReachTheLog: influxgate stops right after the
// packets are read, most likely with the lines still in the listener's
// batch (the unit tests pin that case down); they are appended at
// shutdown, and a backend that was down all along gets them from the
// UDP listener's log after influxgate restarts.
func TestUDPLinesHeldAtShutdownReachTheLog(t *testing.T) {
	a := testinflux.Start(t, testinflux.Options{})
	b := testinflux.Start(t, testinflux.Options{})
	a.CreateDatabase(t, "udpdb")
	b.CreateDatabase(t, "udpdb")
	b.Stop(t)

	cfg := newConfig(t, a)
	cfg.UDP = []config.UDPConfig{{Name: "udp", BindAddr: "127.0.0.1:0", Precision: "s", Database: "udpdb",
		Outputs: []config.OutputConfig{output("a", a.URL()), output("b", b.URL())}}}
	cfg.ApplyDefaults()
	g := startGate(t, cfg)
	sendUDP(t, g.srv.UDPAddrs()[0], 0, 10)
	deadline := time.Now().Add(10 * time.Second)
	for g.udpHealth(t).UDP[0].Packets < 10 {
		if time.Now().After(deadline) {
			t.Fatal("packets not received")
		}
		time.Sleep(time.Millisecond)
	}
	g.stop()

	b.Restart(t)
	g.restart()
	a.WaitCount(t, "udpdb", "udp", 100, 20*time.Second)
	b.WaitCount(t, "udpdb", "udp", 100, 20*time.Second)
	identical(t, "udpdb", a, b)
}
