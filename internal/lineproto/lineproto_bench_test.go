package lineproto

import (
	"fmt"
	"strconv"
	"testing"
)

// benchBody returns n Telegraf-like cpu lines (~100 bytes each), with a
// nanosecond timestamp on every line when stamped, else on none.
func benchBody(n int, stamped bool) []byte {
	var b []byte
	for i := range n {
		b = append(b, "cpu,cpu=cpu"...)
		b = strconv.AppendInt(b, int64(i%4), 10)
		b = append(b, ",host=web-"...)
		b = strconv.AppendInt(b, int64(1000+i%1000), 10)
		b = append(b, ",region=eu-west-1 usage_idle=93.46,usage_system=2.11,usage_user=4.43"...)
		if stamped {
			b = append(b, ' ')
			b = strconv.AppendInt(b, 1_700_000_000_000_000_000+int64(i), 10)
		}
		b = append(b, '\n')
	}
	return b
}

// The hot path of every write: Stamp scans each line and copies the body
// only when some line lacks a timestamp. Sizes are the benchmark tool's
// two shapes (10-line and 5000-line requests).
func BenchmarkStamp(b *testing.B) {
	for _, lines := range []int{10, 5000} {
		for _, stamped := range []bool{true, false} {
			name := fmt.Sprintf("lines=%d/timestamps=%v", lines, stamped)
			b.Run(name, func(b *testing.B) {
				body := benchBody(lines, stamped)
				dst := make([]byte, 0, len(body)*2)
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					out, st := Stamp(dst[:0], body, 1_700_000_000_000_000_000)
					if st.Lines != lines || len(out) < len(body) {
						b.Fatalf("stamped %d lines into %d bytes", st.Lines, len(out))
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
			})
		}
	}
}

func BenchmarkCount(b *testing.B) {
	body := benchBody(5000, true)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if st := Count(body); st.Lines != 5000 {
			b.Fatalf("counted %d lines", st.Lines)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*5000), "ns/line")
}

func BenchmarkLines(b *testing.B) {
	body := benchBody(5000, true)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		Lines(body, func([]byte) bool { n++; return true })
		if n != 5000 {
			b.Fatalf("iterated %d lines", n)
		}
	}
}
