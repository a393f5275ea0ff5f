package udp

import (
	"net"
	"strings"
	"testing"
)

// BenchmarkHandle measures one packet of 20 lines (1.3 KB, half without a
// timestamp, as Telegraf sends them) through cleaning, stamping and
// forwarding to two UDP outputs, without the socket read.
func BenchmarkHandle(b *testing.B) {
	var sinks []string
	for range 2 {
		sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
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
		sinks = append(sinks, sink.LocalAddr().String())
	}
	l, err := Listen(Options{Config: udpConfig("n", 1024, sinks...)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	pkt := []byte(strings.Repeat("cpu,host=server01,region=eu-west,cpu=cpu0 usage_user=1.5,usage_system=2.25,usage_idle=96.25\n"+
		"mem,host=server01,region=eu-west used=123456789i,free=987654321i,used_percent=11.1 1700000000000000000\n", 10))
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		l.handle(pkt)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
