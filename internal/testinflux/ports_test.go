package testinflux

import (
	"errors"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
)

func TestParsePortRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"32768\t60999\n", 32768, 60999, true},
		{"1024 65535", 1024, 65535, true},
		{"", 0, 0, false},
		{"60999 32768", 0, 0, false},
		{"a b", 0, 0, false},
		{"1 2 3", 0, 0, false},
		{"1000 70000", 0, 0, false},
	}
	for _, tt := range tests {
		lo, hi, ok := parsePortRange(tt.in)
		if lo != tt.lo || hi != tt.hi || ok != tt.ok {
			t.Errorf("parsePortRange(%q) = %d, %d, %v; want %d, %d, %v", tt.in, lo, hi, ok, tt.lo, tt.hi, tt.ok)
		}
	}
}

func TestFreePortsAreDistinctAndBindable(t *testing.T) {
	t.Parallel()
	ephemeralLo := 0
	if b, err := os.ReadFile(ephemeralRange); err == nil {
		ephemeralLo, _, _ = parsePortRange(string(b))
	}
	seen := map[int]bool{}
	// FreePort is racy by design: a test binary running beside this one
	// (whose influxd restarts on its old port, say) can bind a port between
	// the pick and the bind below. Such a loss is allowed, rarely; any other
	// error, or losing often, is not.
	lost := 0
	bindable := func(p int, err error) {
		t.Helper()
		if err == nil {
			return
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("port %d not bindable: %v", p, err)
		}
		if lost++; lost > 2 {
			t.Fatalf("port %d not bindable: %v (%d ports taken by others)", p, err, lost)
		}
		t.Logf("port %d was taken between the pick and the bind: %v", p, err)
	}
	for i := range 40 {
		var p int
		if i%2 == 0 {
			p = FreePort(t)
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			bindable(p, err)
			if err == nil {
				l.Close()
			}
		} else {
			p = FreeUDPPort(t)
			c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p))
			bindable(p, err)
			if err == nil {
				c.Close()
			}
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if ephemeralLo-minPort >= minRangeSize && (p < minPort || p >= ephemeralLo) {
			t.Errorf("port %d outside [%d, %d)", p, minPort, ephemeralLo)
		}
	}
}
