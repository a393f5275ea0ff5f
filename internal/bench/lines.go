package bench

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// Body is one pre-generated request body.
type Body struct {
	Data  []byte // as sent: gzip-compressed when the load is gzip
	Lines int    // points in the body
	Raw   int    // uncompressed size in bytes
	// stamps holds the offset of each line's 19-digit timestamp in Data
	// (plain bodies only), so Restamp can rewrite them in place.
	stamps []int32
}

// tsDigits is the width of every generated timestamp: nanoseconds since
// 1970 have 19 digits from 2001-09-09 to 2286, so a timestamp can be
// rewritten in place without moving the rest of the body.
const tsDigits = 19

// Shape of the generated data: hosts × (cpusPerHost cpu lines + 1 mem
// line), as Telegraf's cpu and mem inputs report them.
const (
	hosts       = 1000
	cpusPerHost = 4
)

// Series is the number of distinct series GenerateBodies cycles through.
const Series = hosts * (cpusPerHost + 1)

// maxMeasurements bounds GenerateBodiesOver's measurements: the suffix has
// three digits.
const maxMeasurements = 2000

// GenerateBodies returns n bodies of lines points each. The points cycle
// through 5,000 series (1,000 hosts, each with four cpu lines and one mem
// line); line k of the whole set has timestamp start+k ns, so every point
// is distinct. With gz the bodies are gzip-compressed at the fastest level,
// which is what a busy client would choose.
func GenerateBodies(n, lines int, gz bool, start time.Time) ([]Body, error) {
	return GenerateBodiesOver(n, lines, 0, gz, start)
}

// GenerateBodiesOver is GenerateBodies with the lines spread over
// measurements measurements instead of two: a host's lines are named
// cpu_NNN and mem_NNN with NNN = host mod measurements/2. measurements
// must be even; 0 keeps the plain cpu and mem.
func GenerateBodiesOver(n, lines, measurements int, gz bool, start time.Time) ([]Body, error) {
	if n < 1 || lines < 1 {
		return nil, fmt.Errorf("need at least one body of one line, got %d × %d", n, lines)
	}
	if measurements < 0 || measurements%2 != 0 || measurements > maxMeasurements {
		return nil, fmt.Errorf("measurements %d: want an even number from 0 to %d", measurements, maxMeasurements)
	}
	base := start.UnixNano()
	if len(strconv.FormatInt(base, 10)) != tsDigits {
		return nil, fmt.Errorf("start %v does not give 19-digit nanosecond timestamps", start)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]Body, n)
	k := 0
	for i := range out {
		var buf []byte
		stamps := make([]int32, 0, lines)
		for range lines {
			buf = appendLine(buf, k, measurements/2, rng)
			stamps = append(stamps, int32(len(buf)))
			buf = strconv.AppendInt(buf, base+int64(k), 10)
			buf = append(buf, '\n')
			k++
		}
		b := Body{Data: buf, Lines: lines, Raw: len(buf), stamps: stamps}
		if gz {
			var z bytes.Buffer
			w, err := gzip.NewWriterLevel(&z, gzip.BestSpeed)
			if err != nil {
				return nil, err
			}
			if _, err := w.Write(buf); err != nil {
				return nil, err
			}
			if err := w.Close(); err != nil {
				return nil, err
			}
			b.Data, b.stamps = z.Bytes(), nil
		}
		out[i] = b
	}
	return out, nil
}

// appendLine appends line k's measurement, tags and fields, and the space
// before its timestamp. With groups > 0 the measurement names carry the
// host's group (host mod groups) as a suffix.
func appendLine(b []byte, k, groups int, rng *rand.Rand) []byte {
	host := (k / (cpusPerHost + 1)) % hosts
	slot := k % (cpusPerHost + 1)
	region := [...]string{"eu-west-1", "us-east-1", "ap-south-1"}[host%3]
	suffix := func(b []byte) []byte {
		if groups == 0 {
			return b
		}
		g := host % groups
		return append(b, '_', byte('0'+g/100%10), byte('0'+g/10%10), byte('0'+g%10))
	}
	if slot < cpusPerHost {
		idle := 60 + rng.Float64()*40
		sys := rng.Float64() * (100 - idle) / 3
		b = suffix(append(b, "cpu"...))
		b = append(b, ",cpu=cpu"...)
		b = strconv.AppendInt(b, int64(slot), 10)
		b = append(b, ",host=web-"...)
		b = appendPadded(b, host)
		b = append(b, ",region="...)
		b = append(b, region...)
		b = append(b, " usage_idle="...)
		b = strconv.AppendFloat(b, idle, 'f', 2, 64)
		b = append(b, ",usage_system="...)
		b = strconv.AppendFloat(b, sys, 'f', 2, 64)
		b = append(b, ",usage_user="...)
		b = strconv.AppendFloat(b, 100-idle-sys, 'f', 2, 64)
		return append(b, ' ')
	}
	used := 2_000_000_000 + rng.Int64N(12_000_000_000)
	b = suffix(append(b, "mem"...))
	b = append(b, ",host=web-"...)
	b = appendPadded(b, host)
	b = append(b, ",region="...)
	b = append(b, region...)
	b = append(b, " used="...)
	b = strconv.AppendInt(b, used, 10)
	b = append(b, "i,available="...)
	b = strconv.AppendInt(b, 16_000_000_000-used, 10)
	b = append(b, "i,used_percent="...)
	b = strconv.AppendFloat(b, float64(used)/160_000_000, 'f', 2, 64)
	return append(b, ' ')
}

// appendPadded appends n as four digits.
func appendPadded(b []byte, n int) []byte {
	return append(b, byte('0'+n/1000%10), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

// Restamp rewrites the body's timestamps in place to first, first+1, ...
// first+Lines-1 (nanoseconds). It panics on a gzip body or a first that is
// not a 19-digit timestamp throughout, both broken invariants of the caller.
func (b *Body) Restamp(first int64) {
	if b.stamps == nil {
		panic("bench: Restamp on a compressed body")
	}
	last := first + int64(b.Lines) - 1
	if first < 1e18 || last < first { // last < first: overflow past MaxInt64
		panic("bench: Restamp timestamps out of the 19-digit range")
	}
	var digits [tsDigits]byte
	for i, off := range b.stamps {
		v := first + int64(i)
		for d := tsDigits - 1; d >= 0; d-- {
			digits[d] = byte('0' + v%10)
			v /= 10
		}
		copy(b.Data[off:off+tsDigits], digits[:])
	}
}

// Clone returns a copy of b that can be re-stamped independently.
func (b Body) Clone() Body {
	c := b
	c.Data = bytes.Clone(b.Data)
	return c
}
