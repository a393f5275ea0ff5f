package udp

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/lineproto"
)

var receipt = time.Unix(1700000000, 123456789)

func TestForwardSplitsAtLineBoundariesWithinTheMTU(t *testing.T) {
	const mtu = 200
	capt := newCapture(t)
	l := startListener(t, Options{Config: udpConfig("n", mtu, capt.addr()), Now: fixedClock(receipt)})
	conn := sender(t, l)

	// Lines of varied length, half without a timestamp, and one line
	// longer than the MTU in the middle: it must go alone, whole.
	var pkt strings.Builder
	var want []string
	for i := range 150 {
		line := fmt.Sprintf("cpu,host=h%d,region=r%s usage=%d.5", i, field(i%40), i)
		if i == 70 {
			line = `big s="` + field(500) + `"`
		}
		if i%2 == 0 {
			line += " 1600000000000000000"
			want = append(want, line)
		} else {
			want = append(want, line+" 1700000000123456789")
		}
		pkt.WriteString(line + "\n")
	}
	send(t, conn, pkt.String())

	ds := capt.datagrams(t, len(want))
	if got := splitLines(ds); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines differ from what was sent:\ngot  %q\nwant %q", got, want)
	}
	for i, d := range ds {
		if d[len(d)-1] != '\n' {
			t.Errorf("datagram %d does not end a line: %q", i, d)
		}
		n := lineproto.Count(d).Lines
		if len(d) > mtu && n != 1 {
			t.Errorf("datagram %d has %d bytes (MTU %d) and %d lines; only a single long line may exceed the MTU", i, len(d), mtu, n)
		}
		// Packing is tight: the next datagram's first line did not fit.
		if i+1 < len(ds) && len(d) <= mtu {
			next := strings.SplitAfter(string(ds[i+1]), "\n")[0]
			if len(d)+len(next) <= mtu {
				t.Errorf("datagram %d (%d bytes) had room for the next line (%d bytes)", i, len(d), len(next))
			}
		}
	}
	l.Close()
	st := l.Stats()
	o := st.Outputs[0]
	if o.Lines != 150 || o.Datagrams != uint64(len(ds)) || len(o.Dropped) != 0 {
		t.Errorf("output stats = %+v, want 150 lines in %d datagrams", o, len(ds))
	}
	if st.Packets != 1 || st.Lines != 150 || st.Stamped != 75 {
		t.Errorf("listener stats = %+v", st)
	}
}

func TestALineTooLongForAnyDatagramIsDroppedAndCounted(t *testing.T) {
	capt := newCapture(t)
	l := startListener(t, Options{Config: udpConfig("n", 1024, capt.addr()), Now: fixedClock(receipt)})
	conn := sender(t, l)

	// 65497 bytes as received; the timestamp influxgate adds takes it
	// past the largest UDP payload, 65507 bytes.
	long := `long s="` + field(lineproto.MaxDatagram-10-8) + `"`
	send(t, conn, long+"\n")
	send(t, conn, "small f=1i 5\n")
	ds := capt.datagrams(t, 1)
	if got := splitLines(ds); len(got) != 1 || got[0] != "small f=1i 5" {
		t.Errorf("forwarded %q, want only the small line", got)
	}
	capt.quiet(t)
	l.Close()
	o := l.Stats().Outputs[0]
	if o.Dropped[ReasonTooLong] != 1 || o.Lines != 1 {
		t.Errorf("output stats = %+v, want 1 line sent and 1 dropped as too_long", o)
	}
}

func TestMalformedLinesAreDroppedAndGarbageNeverStopsTheListener(t *testing.T) {
	capt := newCapture(t)
	l := startListener(t, Options{Config: udpConfig("s", 1024, capt.addr()), Now: fixedClock(receipt)})
	conn := sender(t, l)

	send(t, conn, "good,n=1 f=1\nbad_no_fields\ngood,n=2 f=2i 1600000000\nbad f=\ngood,n=3 s=\"x\"\n")
	if got := splitLines(capt.datagrams(t, 3)); strings.Join(got, "|") !=
		`good,n=1 f=1 1700000000|good,n=2 f=2i 1600000000|good,n=3 s="x" 1700000000` {
		t.Errorf("forwarded %q", got)
	}
	if st := l.Stats(); st.Lines != 5 || st.Dropped[ReasonMalformed] != 2 {
		t.Errorf("stats = %+v, want 5 lines, 2 malformed", st)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	garbage := []string{"", "\x00\x00\x00\x00", strings.Repeat("\x00", 65000), "\n\n\n", `m s="unterminated`, "\\"}
	for range 30 {
		b := make([]byte, 1+rng.IntN(3000))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		garbage = append(garbage, string(b))
	}
	for _, g := range garbage {
		send(t, conn, g)
	}
	send(t, conn, "after,n=1 f=1 1600000001\nafter,n=2 f=1 1600000002\n")
	if got := splitLines(capt.datagrams(t, 2)); strings.Join(got, "|") != "after,n=1 f=1 1600000001|after,n=2 f=1 1600000002" {
		t.Errorf("after the garbage, forwarded %q", got)
	}
	l.Close() // the counters are final once the reading goroutine ended
	st := l.Stats()
	if want := uint64(2 + len(garbage)); st.Packets != want {
		t.Errorf("packets = %d, want %d", st.Packets, want)
	}
	if st.Lines != 7+st.Dropped[ReasonMalformed]-2 || st.Dropped[ReasonMalformed] <= 2 {
		t.Errorf("stats = %+v: every line but the 5 good ones must be counted as malformed", st)
	}
	if st.Panics != 0 || st.Outputs[0].Lines != 5 {
		t.Errorf("stats = %+v", st)
	}
}

func TestEveryPrecisionStampsTheReceiptTime(t *testing.T) {
	now := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	want := map[string]string{
		"n":  "1714979289123456789",
		"u":  "1714979289123456",
		"ms": "1714979289123",
		"s":  "1714979289",
		"m":  "28582988",
		"h":  "476383",
	}
	for prec, ts := range want {
		t.Run(prec, func(t *testing.T) {
			capt := newCapture(t)
			l := startListener(t, Options{Config: udpConfig(prec, 1024, capt.addr()), Now: fixedClock(now)})
			send(t, sender(t, l), "a f=1\nb f=2 42\n")
			if got := splitLines(capt.datagrams(t, 2)); strings.Join(got, "|") != "a f=1 "+ts+"|b f=2 42" {
				t.Errorf("forwarded %q, want the first line stamped %s", got, ts)
			}
		})
	}
}

func TestHandleDoesNotAllocatePerLine(t *testing.T) {
	// A sink that reads into one buffer: AllocsPerRun counts the
	// allocations of every goroutine, so the receiver must not allocate.
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	go func() {
		buf := make([]byte, 1<<16)
		for {
			if _, err := sink.Read(buf); err != nil {
				return
			}
		}
	}()
	l, err := Listen(Options{Config: udpConfig("ms", 1400, sink.LocalAddr().String())})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	one := []byte("cpu,host=a usage=1.5,idle=2i\n")
	many := []byte(strings.Repeat("cpu,host=a usage=1.5,idle=2i\nmem,host=a used=3i 1700000000000\n", 100))
	l.handle(many) // grow the buffers
	a1 := testing.AllocsPerRun(50, func() { l.handle(one) })
	a200 := testing.AllocsPerRun(50, func() { l.handle(many) })
	if a1 != 0 || a200 != 0 {
		t.Errorf("allocations per packet: %v for 1 line, %v for 200 lines in 5 datagrams; want 0", a1, a200)
	}
	if st := l.Stats(); st.Outputs[0].Lines != 51*1+52*200 || st.Outputs[0].Dropped != nil {
		t.Errorf("output stats = %+v", st.Outputs[0])
	}
}

func TestListenReportsProblemsAtStart(t *testing.T) {
	taken, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy := udpConfig("n", 0, "127.0.0.1:9")
	busy.BindAddr = taken.LocalAddr().String()
	httpNoRelay := udpConfig("n", 0, "http://127.0.0.1:1/write")
	httpNoRelay.Database = "db"
	badOutput := udpConfig("n", 0, "no-such-host.invalid:9")
	badPrec := udpConfig("n", 0, "127.0.0.1:9")
	badPrec.Precision = "us"
	for name, c := range map[string]config.UDPConfig{
		"address in use": busy, "http output without relay": httpNoRelay,
		"unresolvable output": badOutput, "bad precision": badPrec,
	} {
		t.Run(name, func(t *testing.T) {
			if l, err := Listen(Options{Config: c}); err == nil {
				l.Close()
				t.Errorf("Listen succeeded")
			} else if !strings.Contains(err.Error(), `[[udp]] "udp"`) {
				t.Errorf("error %q does not name the section", err)
			}
		})
	}
}

func TestReadBufferIsSet(t *testing.T) {
	c := udpConfig("n", 0, "127.0.0.1:9")
	c.ReadBuffer = 64 << 10
	l, err := Listen(Options{Config: c})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got, ok := readBuffer(l.conn); ok && got != c.ReadBuffer {
		t.Errorf("receive buffer = %d, want %d", got, c.ReadBuffer)
	}
}
