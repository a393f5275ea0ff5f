package lineproto

import (
	"strings"
	"testing"
)

// pack runs p over body and returns copies of the datagrams.
func pack(p *Packer, body string) (grams []string, dropped int) {
	dropped = p.Pack([]byte(body), func(d []byte) { grams = append(grams, string(d)) })
	return grams, dropped
}

func TestPacker(t *testing.T) {
	long := "m s=\"" + strings.Repeat("x", 100) + "\""
	cases := []struct {
		name    string
		mtu     int
		in      string
		want    []string
		dropped int
	}{
		{"empty", 64, "", nil, 0},
		{"only comments and blanks", 64, "# a\n\n  \n", nil, 0},
		{"one line", 64, "a f=1\n", []string{"a f=1\n"}, 0},
		{"adds final newline", 64, "a f=1", []string{"a f=1\n"}, 0},
		{"packs to mtu", 12, "a f=1\nb f=2\nc f=3\n", []string{"a f=1\nb f=2\n", "c f=3\n"}, 0},
		{"exact fit", 6, "a f=1\nb f=2\n", []string{"a f=1\n", "b f=2\n"}, 0},
		{"skips comments between", 64, "a f=1\n# x\n\nb f=2\n", []string{"a f=1\nb f=2\n"}, 0},
		{"long line alone", 20, "a f=1\n" + long + "\nb f=2", []string{"a f=1\n", long + "\n", "b f=2\n"}, 0},
		{"newline in string kept whole", 12, "a s=\"x\ny\"\nb f=2\n", []string{"a s=\"x\ny\"\n", "b f=2\n"}, 0},
		{"CRLF kept", 64, "a f=1\r\nb f=2\r\n", []string{"a f=1\r\nb f=2\r\n"}, 0},
		{"no second newline after a quoted one", 64, "a f=1\n =\" 0=0\n", []string{"a f=1\n =\" 0=0\n"}, 0},
		{"escaped newline line kept whole", 64, "a f=1\\\n\nb f=2\n", []string{"a f=1\\\n\nb f=2\n"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			grams, dropped := pack(NewPacker(tc.mtu), tc.in)
			if strings.Join(grams, "|") != strings.Join(tc.want, "|") || len(grams) != len(tc.want) || dropped != tc.dropped {
				t.Errorf("got %q dropped %d, want %q dropped %d", grams, dropped, tc.want, tc.dropped)
			}
		})
	}
}

func TestPackerHugeLines(t *testing.T) {
	fits := "m s=\"" + strings.Repeat("y", MaxDatagram-1-len("m s=\"\"")) + "\"" // with '\n': exactly MaxDatagram
	tooBig := "m s=\"" + strings.Repeat("z", MaxDatagram-len("m s=\"\"")) + "\"" // one byte more
	if len(fits)+1 != MaxDatagram || len(tooBig)+1 != MaxDatagram+1 {
		t.Fatal("bad test lines")
	}
	p := NewPacker(1400)
	body := "a f=1\n" + tooBig + "\nb f=2\n" + fits + "\n" + tooBig + "\nc f=3"
	grams, dropped := pack(p, body)
	want := []string{"a f=1\n", "b f=2\n", fits + "\n", "c f=3\n"}
	if dropped != 2 || len(grams) != len(want) {
		t.Fatalf("dropped %d, %d datagrams; want 2 and %d", dropped, len(grams), len(want))
	}
	for i := range want {
		if grams[i] != want[i] {
			t.Errorf("datagram %d: %d bytes, want %d", i, len(grams[i]), len(want[i]))
		}
	}
	// The buffer grown for the huge line is reused, not reallocated.
	raw := []byte(body)
	allocs := testing.AllocsPerRun(10, func() {
		p.Pack(raw, func([]byte) {})
	})
	if allocs != 0 {
		t.Errorf("Pack allocates %.1f times per call", allocs)
	}
}

func TestNewPackerMTU(t *testing.T) {
	for in, want := range map[int]int{0: DefaultMTU, -5: DefaultMTU, 1: 1, 1500: 1500, 70000: MaxDatagram} {
		if got := NewPacker(in).MTU(); got != want {
			t.Errorf("NewPacker(%d).MTU() = %d, want %d", in, got, want)
		}
	}
}

func TestPackerReuse(t *testing.T) {
	// A datagram is only valid during emit: the next one reuses the buffer.
	p := NewPacker(8)
	var first []byte
	p.Pack([]byte("a f=1\nb f=2\n"), func(d []byte) {
		if first == nil {
			first = d
		}
	})
	if string(first) != "b f=2\n" {
		t.Fatalf("expected the buffer to be reused, first datagram now reads %q", first)
	}
}
