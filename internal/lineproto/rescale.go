package lineproto

import (
	"bytes"
	"fmt"
	"strconv"
)

// Rescale rewrites every line's timestamp from precision from to the finer
// precision to (Hour to Second multiplies by 3600), appending the result to
// dst. It sends minute and hour precision writes to 2.x backends, which only
// know ns, us, ms and s. Only the timestamp digits change; all other bytes
// are copied. Lines without a timestamp, and lines whose timestamp is not an
// integer InfluxDB can parse (which the backend rejects either way), are
// copied unchanged; Stamp first so that every line has one.
//
// Rescale fails if to is coarser than from, or if a rescaled timestamp does
// not fit in an int64. The overflow error reads as InfluxDB's for that line
// (`unable to parse '<line>': time outside range ...`): such a timestamp is
// out of InfluxDB's range at the original precision too. On error dst is
// returned with its original length.
func Rescale(dst, body []byte, from, to Precision) ([]byte, error) {
	if !from.Valid() || !to.Valid() {
		return dst, fmt.Errorf("rescale from %v to %v: invalid precision", from, to)
	}
	if to > from {
		return dst, fmt.Errorf("rescale from %v to %v: target precision is coarser", from, to)
	}
	if from == to {
		return append(dst, body...), nil
	}
	factor := int64(from.Duration() / to.Duration())
	base := len(dst)
	copied := 0 // body[:copied] is already in dst
	for i := 0; i < len(body); {
		end, plain := nextLine(body, i)
		info := classify(body[i:end], plain)
		if info.kind == kindPoint && info.ts1 > info.ts0 {
			t0, t1 := i+info.ts0, i+info.ts1
			if v, ok := parseTimestamp(body[t0:t1]); ok {
				r := v * factor
				if r/factor != v {
					line := bytes.TrimSuffix(body[i+skipWS(body[i:end], 0):end], []byte("\n"))
					return dst[:base], fmt.Errorf("unable to parse '%s': %w", line, ErrTimeOutOfRange)
				}
				dst = append(dst, body[copied:t0]...)
				dst = strconv.AppendInt(dst, r, 10)
				copied = t1
			}
		}
		i = end + 1
	}
	return append(dst, body[copied:]...), nil
}
