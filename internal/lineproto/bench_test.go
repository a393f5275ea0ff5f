package lineproto

import (
	"fmt"
	"strings"
	"testing"
)

// benchBody builds n typical Telegraf-style lines, with or without
// timestamps, or with a string field (which takes the scanner's slow path).
func benchBody(n int, withTS, withString bool) []byte {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "cpu,cpu=cpu%d,host=server%02d,region=us-west usage_idle=98.%d,usage_user=1.3,usage_system=0.5,count=%di",
			i%8, i%50, i%10, i)
		if withString {
			fmt.Fprintf(&sb, `,msg="status ok, id=%d"`, i)
		}
		if withTS {
			fmt.Fprintf(&sb, " %d", 1465839830100400200+int64(i))
		}
		sb.WriteByte('\n')
	}
	return []byte(sb.String())
}

func benchStamp(b *testing.B, n int, withTS, withString bool) {
	body := benchBody(n, withTS, withString)
	dst := make([]byte, 0, 2*len(body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		out, st := Stamp(dst[:0], body, 1700000000)
		if st.Lines != n || len(out) < len(body) {
			b.Fatalf("stats %+v", st)
		}
	}
}

func BenchmarkStamp(b *testing.B) {
	for _, n := range []int{10, 5000} {
		b.Run(fmt.Sprintf("lines=%d/none-needed", n), func(b *testing.B) { benchStamp(b, n, true, false) })
		b.Run(fmt.Sprintf("lines=%d/all-stamped", n), func(b *testing.B) { benchStamp(b, n, false, false) })
		b.Run(fmt.Sprintf("lines=%d/strings-all-stamped", n), func(b *testing.B) { benchStamp(b, n, false, true) })
	}
}

func BenchmarkCount(b *testing.B) {
	for _, tc := range []struct {
		name            string
		withTS, withStr bool
	}{{"typical", true, false}, {"strings", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			body := benchBody(5000, tc.withTS, tc.withStr)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if st := Count(body); st.Lines != 5000 {
					b.Fatalf("stats %+v", st)
				}
			}
		})
	}
}

func BenchmarkPacker(b *testing.B) {
	body := benchBody(5000, true, false)
	p := NewPacker(1400)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		p.Pack(body, func(d []byte) { n += len(d) })
		if n != len(body) {
			b.Fatalf("packed %d of %d bytes", n, len(body))
		}
	}
}

func BenchmarkRescale(b *testing.B) {
	// Timestamps in hours, small enough that the seconds fit in int64.
	hours := []byte(strings.ReplaceAll(string(benchBody(5000, true, false)), " 14658398301004", " 4071"))
	dst := make([]byte, 0, 2*len(hours))
	b.SetBytes(int64(len(hours)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Rescale(dst[:0], hours, Hour, Second); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateLine(b *testing.B) {
	line := benchBody(1, true, true)
	line = line[:len(line)-1]
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateLine(line); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStampNoAllocs(t *testing.T) {
	for _, withTS := range []bool{true, false} {
		body := benchBody(100, withTS, true)
		dst := make([]byte, 0, 2*len(body))
		if n := testing.AllocsPerRun(20, func() { Stamp(dst[:0], body, 1) }); n != 0 {
			t.Errorf("Stamp (timestamps present: %v) allocates %.1f times with room in dst", withTS, n)
		}
		if n := testing.AllocsPerRun(20, func() { Count(body) }); n != 0 {
			t.Errorf("Count allocates %.1f times", n)
		}
	}
}
