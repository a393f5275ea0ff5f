package udp

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/lineproto"
)

// capture is a plain UDP socket that records the datagrams it receives. It
// stands in for a backend's UDP listener where the test looks at datagrams
// rather than stored points.
type capture struct {
	conn *net.UDPConn
	ch   chan []byte
}

func newCapture(t *testing.T) *capture {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadBuffer(8 << 20)
	c := &capture{conn: conn, ch: make(chan []byte, 10000)}
	go func() {
		buf := make([]byte, 1<<16)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(c.ch)
				return
			}
			c.ch <- bytes.Clone(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return c
}

func (c *capture) addr() string { return c.conn.LocalAddr().String() }

// datagrams waits until the captured datagrams hold n point lines and
// returns them; it fails the test if they hold more or never get there.
func (c *capture) datagrams(t *testing.T, n int) [][]byte {
	t.Helper()
	var out [][]byte
	lines := 0
	timeout := time.After(10 * time.Second)
	for lines < n {
		select {
		case d := <-c.ch:
			out = append(out, d)
			lines += lineproto.Count(d).Lines
		case <-timeout:
			t.Fatalf("captured %d lines in %d datagrams, want %d", lines, len(out), n)
		}
	}
	if lines != n {
		t.Fatalf("captured %d lines, want %d", lines, n)
	}
	return out
}

// quiet checks that no further datagram arrives for a moment. It can only
// miss a late datagram, never fail a correct listener.
func (c *capture) quiet(t *testing.T) {
	t.Helper()
	select {
	case d := <-c.ch:
		t.Errorf("unexpected datagram %q", clip(string(d), 200))
	case <-time.After(50 * time.Millisecond):
	}
}

// udpConfig returns a [[udp]] section on a free loopback port whose UDP
// outputs are the given captures or addresses, with defaults applied.
func udpConfig(precision string, mtu int, locations ...string) config.UDPConfig {
	c := config.Config{UDP: []config.UDPConfig{{Name: "udp", BindAddr: "127.0.0.1:0", Precision: precision}}}
	for i, loc := range locations {
		c.UDP[0].Outputs = append(c.UDP[0].Outputs, config.OutputConfig{Name: string(rune('a' + i)), Location: config.Location(loc), MTU: mtu})
	}
	c.ApplyDefaults()
	return c.UDP[0]
}

// startListener starts a Listener with opts and closes it at cleanup.
func startListener(t *testing.T, opts Options) *Listener {
	t.Helper()
	l, err := Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	l.Start()
	t.Cleanup(func() { l.Close() })
	return l
}

// sender is a client socket connected to a listener.
func sender(t *testing.T, l *Listener) *net.UDPConn {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, l.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func send(t *testing.T, conn *net.UDPConn, pkt string) {
	t.Helper()
	if _, err := conn.Write([]byte(pkt)); err != nil {
		t.Fatal(err)
	}
}

// waitPackets waits until the listener has processed n packets.
func waitPackets(t *testing.T, l *Listener, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.Stats().Packets < n {
		if time.Now().After(deadline) {
			t.Fatalf("listener processed %d packets, want %d", l.Stats().Packets, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// splitLines returns the point lines of datagrams, in order.
func splitLines(datagrams [][]byte) []string {
	var out []string
	for _, d := range datagrams {
		lineproto.Lines(d, func(line []byte) bool {
			if lineproto.IsPoint(line) {
				out = append(out, string(line))
			}
			return true
		})
	}
	return out
}

// fixedClock returns a clock stuck at t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func field(n int) string { return strings.Repeat("x", n) }
