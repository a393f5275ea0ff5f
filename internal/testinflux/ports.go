package testinflux

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Linux hands out ports from ip_local_port_range (usually 32768-60999) both
// for ":0" listeners and for the local side of every outgoing connection. A
// port found free there can be taken moments later by any client connection
// on the machine, for instance while a server is stopped between Stop and
// Restart. Ports below that range are only ever taken by a process that
// binds them explicitly, so the picker draws random ports from
// [minPort, start of the ephemeral range). When that range is unknown or too
// small it falls back to asking the kernel for ":0".
const (
	minPort        = 10000
	minRangeSize   = 1000
	pickAttempts   = 200
	ephemeralRange = "/proc/sys/net/ipv4/ip_local_port_range"
)

var picker struct {
	once   sync.Once
	lo, hi int // candidates are [lo, hi); hi == 0 means use ":0"

	mu   sync.Mutex
	used map[int]bool // ports handed out by this process, TCP and UDP alike
}

// FreePort returns a loopback TCP port that was free when checked and that
// this test binary has not handed out before. It is inherently racy: another
// process may bind the port before the caller does. Start copes by retrying
// with new ports; other callers should be ready for "address already in use".
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := pickPort("tcp")
	if err != nil {
		t.Fatalf("testinflux: %v", err)
	}
	return p
}

// FreeUDPPort is FreePort for a UDP port on 127.0.0.1, with the same race.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	p, err := pickPort("udp")
	if err != nil {
		t.Fatalf("testinflux: %v", err)
	}
	return p
}

// pickPort finds a port free for network ("tcp" or "udp") and records it as
// used.
func pickPort(network string) (int, error) {
	picker.once.Do(initPicker)
	picker.mu.Lock()
	defer picker.mu.Unlock()
	if picker.used == nil {
		picker.used = make(map[int]bool)
	}
	for range pickAttempts {
		p := 0
		if picker.hi > 0 {
			p = picker.lo + rand.IntN(picker.hi-picker.lo)
			if picker.used[p] {
				continue
			}
		}
		got, err := probe(network, p)
		if err != nil || picker.used[got] {
			continue
		}
		picker.used[got] = true
		return got, nil
	}
	return 0, fmt.Errorf("no free %s port found on 127.0.0.1 after %d attempts", network, pickAttempts)
}

// probe binds 127.0.0.1:port (0 lets the kernel choose) and releases it,
// returning the port it bound.
func probe(network string, port int) (int, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if network == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func initPicker() {
	b, err := os.ReadFile(ephemeralRange)
	if err != nil {
		return
	}
	lo, _, ok := parsePortRange(string(b))
	if !ok || lo-minPort < minRangeSize {
		return
	}
	picker.lo, picker.hi = minPort, lo
}

// parsePortRange parses ip_local_port_range ("32768\t60999\n").
func parsePortRange(s string) (lo, hi int, ok bool) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo <= 0 || hi < lo || hi > 65535 {
		return 0, 0, false
	}
	return lo, hi, true
}
