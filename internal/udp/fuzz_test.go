package udp

import (
	"bytes"
	"slices"
	"testing"

	"github.com/influxgate/influxgate/internal/lineproto"
)

// FuzzPacket runs any packet through the path every UDP packet takes
// (split into lines, drop malformed ones, stamp, pack into datagrams) and
// checks that nothing panics, that exactly the lines InfluxDB would accept
// (less those that only end a body, see errSwallows) come out, whole, in order, each stamped as Stamp stamps a single line,
// that no datagram exceeds the MTU unless it carries one line alone (and
// never 65507 bytes), and that cleaned packets can be concatenated into a
// log record without two lines running together.
// The seed corpus is in testdata/fuzz/FuzzPacket.
func FuzzPacket(f *testing.F) {
	f.Add([]byte("cpu,host=a usage=1.5\nmem free=2i 1700000000000000000\n"), uint16(64))
	f.Fuzz(func(t *testing.T, pkt []byte, m uint16) {
		const ts = 1700000000000000000
		mtu := 1 + int(m)%lineproto.MaxDatagram
		c := cleaner{prec: lineproto.Nanosecond}
		body, r := c.clean(pkt, ts)

		// What must come out: every valid point line, stamped on its own.
		var want []string
		points := 0
		lineproto.Lines(pkt, func(line []byte) bool {
			if !lineproto.IsPoint(line) {
				return true
			}
			points++
			if lineproto.ValidateLine(line) == nil && endsAlone(line) {
				out, _ := lineproto.Stamp(nil, line, ts)
				want = append(want, string(out))
			}
			return true
		})
		if r.lines != points || r.valid() != len(want) {
			t.Fatalf("result %+v; want %d lines, %d valid", r, points, len(want))
		}
		if got := pointLines(body); !slices.Equal(got, want) {
			t.Fatalf("cleaned lines\n%q\nwant\n%q", got, want)
		}

		var ds [][]byte
		dropped := lineproto.NewPacker(mtu).Pack(body, func(d []byte) { ds = append(ds, bytes.Clone(d)) })
		var fits []string
		for _, l := range want {
			if len(l)+1 <= lineproto.MaxDatagram {
				fits = append(fits, l)
			}
		}
		if dropped != len(want)-len(fits) {
			t.Fatalf("packer dropped %d lines, want %d", dropped, len(want)-len(fits))
		}
		var sent []string
		for _, d := range ds {
			lines := pointLines(d)
			if len(d) == 0 || d[len(d)-1] != '\n' || len(lines) == 0 {
				t.Fatalf("datagram %q is not whole lines", d)
			}
			if len(d) > lineproto.MaxDatagram || (len(d) > mtu && len(lines) != 1) {
				t.Fatalf("datagram of %d bytes with %d lines, MTU %d", len(d), len(lines), mtu)
			}
			sent = append(sent, lines...)
		}
		if !slices.Equal(sent, fits) {
			t.Fatalf("datagrams carry\n%q\nwant\n%q", sent, fits)
		}
		for _, l := range sent {
			if err := lineproto.ValidateLine([]byte(l)); err != nil {
				t.Fatalf("forwarded a line InfluxDB rejects: %v", err)
			}
		}

		// Two cleaned packets joined as the batcher joins them.
		if len(body) > 0 {
			joined := slices.Clone(body)
			if joined[len(joined)-1] != '\n' {
				joined = append(joined, '\n')
			}
			joined = append(joined, body...)
			if got := pointLines(joined); !slices.Equal(got, append(slices.Clone(want), want...)) {
				t.Fatalf("joined packets split into\n%q\nwant twice\n%q", got, want)
			}
		}
	})
}

func pointLines(b []byte) []string {
	var out []string
	lineproto.Lines(b, func(line []byte) bool {
		if lineproto.IsPoint(line) {
			out = append(out, string(line))
		}
		return true
	})
	return out
}

// endsAlone is endsCleanly written the slow way: the line followed by
// another splits into two lines.
func endsAlone(line []byte) bool {
	joined := append(append(slices.Clone(line), '\n'), "m f=1"...)
	got := pointLines(joined)
	return len(got) == 2 && got[0] == string(line)
}
