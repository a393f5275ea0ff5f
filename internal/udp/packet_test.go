package udp

import (
	"strings"
	"testing"

	"github.com/influxgate/influxgate/internal/lineproto"
)

const testTS = 1700000000

func TestCleanDropsMalformedLinesAndStampsTheRest(t *testing.T) {
	tests := []struct {
		name, in, want            string
		lines, malformed, stamped int
	}{
		{"all valid, one stamped", "a f=1 5\nb f=2\n", "a f=1 5\nb f=2 1700000000\n", 2, 0, 1},
		{"unterminated last line kept unterminated", "a f=1", "a f=1 1700000000", 1, 0, 1},
		{"nothing to stamp returns the packet", "a f=1 5\n", "a f=1 5\n", 1, 0, 0},
		{"malformed in the middle", "a f=1\nb\nc f=3 7\n", "a f=1 1700000000\nc f=3 7\n", 3, 1, 1},
		{"missing field value", "a f=\nb f=2i\n", "b f=2i 1700000000\n", 2, 1, 1},
		{"bad timestamp", "a f=1 12x\nb f=1 9", "b f=1 9\n", 2, 1, 0},
		{"unbalanced quotes", "a s=\"x\nb f=1 9\n", "", 1, 1, 0},
		{"comments and blank lines are not lines", "# c\n\n  \na f=1 5\n", "# c\n\n  \na f=1 5\n", 1, 0, 0},
		{"comments are dropped with malformed neighbours", "# c\nbad\na f=1 5\n", "a f=1 5\n", 2, 1, 0},
		{"only malformed", "x\ny\n", "", 2, 2, 0},
		{"only comments", "# x\n", "", 0, 0, 0},
		{"empty packet", "", "", 0, 0, 0},
		{"NUL bytes", "\x00\x00\x00", "", 0, 0, 0},
		{"NULs inside a line", "a f=1\x00x\nb f=1 9\n", "b f=1 9\n", 2, 1, 0},
		{"CRLF is malformed as in InfluxDB", "a f=1 5\r\nb f=1 6\n", "b f=1 6\n", 2, 1, 0},
		// Lines InfluxDB takes only at the very end of a body: followed by
		// another line (in a datagram, in a log record) they swallow it.
		{"trailing backslash", "a f=1\nb s=\"\"\\", "a f=1 1700000000\n", 2, 1, 1},
		{"scan ends inside a quote", "a f=1\n =\" 0=\"\"", "a f=1 1700000000\n", 2, 1, 1},
		{"a newline of its own where the timestamp would be", "a f=1\n =\" 0=\"\" \n0", "a f=1 1700000000\n", 2, 1, 1},
		{"comment with a trailing backslash is left out", "a f=1 5\n# x\\", "a f=1 5\n", 1, 0, 0},
		{"comment with an open quote is left out", "a f=1 5\n# a=\"b\n", "a f=1 5\n", 1, 0, 0},
		{"escaped newline in a comment hides the next line, as in InfluxDB", "a\\ b f=1 5\n# x\\\ny f=1 6\n", "a\\ b f=1 5\n# x\\\ny f=1 6\n", 1, 0, 0},
		{"newline inside a string field", "a s=\"x\ny\"\nb f=1 9\n", "a s=\"x\ny\" 1700000000\nb f=1 9\n", 2, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cleaner{prec: lineproto.Nanosecond}
			got, r := c.clean([]byte(tc.in), testTS)
			if string(got) != tc.want {
				t.Errorf("body = %q, want %q", got, tc.want)
			}
			if r.lines != tc.lines || r.malformed != tc.malformed || r.stamped != tc.stamped {
				t.Errorf("lines, malformed, stamped = %d, %d, %d; want %d, %d, %d",
					r.lines, r.malformed, r.stamped, tc.lines, tc.malformed, tc.stamped)
			}
			if (r.firstErr != nil) != (tc.malformed > 0) {
				t.Errorf("firstErr = %v with %d malformed", r.firstErr, tc.malformed)
			}
		})
	}
}

func TestCleanValidatesTimestampsInTheListenersPrecision(t *testing.T) {
	// 10^17 seconds is far outside InfluxDB's range (years 1677-2262);
	// as nanoseconds it is a fine timestamp.
	pkt := "a f=1 100000000000000000\nb f=2\n"
	c := cleaner{prec: lineproto.Second}
	got, r := c.clean([]byte(pkt), testTS)
	if string(got) != "b f=2 1700000000\n" || r.malformed != 1 {
		t.Errorf("precision s: body %q, malformed %d", got, r.malformed)
	}
	if !strings.Contains(r.firstErr.Error(), "time outside range") {
		t.Errorf("error = %v", r.firstErr)
	}
	c = cleaner{prec: lineproto.Nanosecond}
	if got, r := c.clean([]byte(pkt), testTS); r.malformed != 0 || !strings.HasPrefix(string(got), "a f=1 100000000000000000\n") {
		t.Errorf("precision n: body %q, malformed %d", got, r.malformed)
	}
}

func TestCleanDoesNotAllocatePerPacket(t *testing.T) {
	c := cleaner{prec: lineproto.Nanosecond}
	pkt := []byte(strings.Repeat("cpu,host=a usage=1.5,idle=2i\nmem,host=a used=3i 1700000000000000000\n", 50))
	c.clean(pkt, testTS) // grows the buffers once
	if n := testing.AllocsPerRun(100, func() { c.clean(pkt, testTS) }); n != 0 {
		t.Errorf("%v allocations per packet of 100 valid lines, want 0", n)
	}
}
