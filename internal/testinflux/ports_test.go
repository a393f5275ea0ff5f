package testinflux

import (
	"net"
	"os"
	"strconv"
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
	for i := range 40 {
		var p int
		if i%2 == 0 {
			p = FreePort(t)
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				t.Fatalf("FreePort %d not bindable: %v", p, err)
			}
			l.Close()
		} else {
			p = FreeUDPPort(t)
			c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				t.Fatalf("FreeUDPPort %d not bindable: %v", p, err)
			}
			c.Close()
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
