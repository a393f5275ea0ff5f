package lineproto

import (
	"fmt"
	"strconv"
	"time"
)

// Precision of timestamps in line protocol.
type Precision uint8

// The precisions InfluxDB knows. 2.x's write API only takes Nanosecond to
// Second; 1.x's /write also takes Minute and Hour.
const (
	Nanosecond Precision = iota
	Microsecond
	Millisecond
	Second
	Minute
	Hour
)

// precisionInfo holds each precision's names and length. The v2 name of
// Minute and Hour is empty: the 2.x API has no such precision.
var precisionInfo = [...]struct {
	v1, v2, name string
	d            time.Duration
}{
	Nanosecond:  {"n", "ns", "ns", time.Nanosecond},
	Microsecond: {"u", "us", "us", time.Microsecond},
	Millisecond: {"ms", "ms", "ms", time.Millisecond},
	Second:      {"s", "s", "s", time.Second},
	Minute:      {"m", "", "m", time.Minute},
	Hour:        {"h", "", "h", time.Hour},
}

// ParsePrecisionV1 parses the precision parameter of InfluxDB 1.x's /write:
// "" and "n" mean Nanosecond, then "u", "ms", "s", "m" and "h". "ns" is
// Nanosecond too, because influxd 1.8.10 accepts it on /write (checked
// against the real server). Anything else, including "us", is an error
// worded as InfluxDB 1.8 words it
// (`invalid precision "us" (use n, u, ms, s, m or h)`). Names are
// case-sensitive, as in InfluxDB.
func ParsePrecisionV1(s string) (Precision, error) {
	switch s {
	case "", "n", "ns":
		return Nanosecond, nil
	case "u":
		return Microsecond, nil
	case "ms":
		return Millisecond, nil
	case "s":
		return Second, nil
	case "m":
		return Minute, nil
	case "h":
		return Hour, nil
	}
	return 0, fmt.Errorf("invalid precision %q (use n, u, ms, s, m or h)", s)
}

// ParsePrecisionV2 parses the precision parameter of /api/v2/write: "" and
// "ns" mean Nanosecond, then "us", "ms" and "s". Anything else is an error
// worded as influxd 1.8.10's /api/v2/write words it
// (`invalid precision "x" (use ns, us, ms or s)`).
func ParsePrecisionV2(s string) (Precision, error) {
	switch s {
	case "", "ns":
		return Nanosecond, nil
	case "us":
		return Microsecond, nil
	case "ms":
		return Millisecond, nil
	case "s":
		return Second, nil
	}
	return 0, fmt.Errorf("invalid precision %q (use ns, us, ms or s)", s)
}

// Valid reports whether p is one of the defined precisions.
func (p Precision) Valid() bool { return int(p) < len(precisionInfo) }

// V1 returns p's name for InfluxDB 1.x's /write: "n", "u", "ms", "s", "m"
// or "h"; "" for an invalid p.
func (p Precision) V1() string {
	if !p.Valid() {
		return ""
	}
	return precisionInfo[p].v1
}

// V2 returns p's name for /api/v2/write ("ns", "us", "ms" or "s"), and
// false for Minute, Hour and invalid values, which that API cannot express.
func (p Precision) V2() (string, bool) {
	if !p.Valid() || precisionInfo[p].v2 == "" {
		return "", false
	}
	return precisionInfo[p].v2, true
}

// String returns "ns", "us", "ms", "s", "m" or "h".
func (p Precision) String() string {
	if !p.Valid() {
		return "Precision(" + strconv.Itoa(int(p)) + ")"
	}
	return precisionInfo[p].name
}

// Duration returns the length of one unit of p (1ns to 1h), or 0 if p is
// not valid.
func (p Precision) Duration() time.Duration {
	if !p.Valid() {
		return 0
	}
	return precisionInfo[p].d
}

// Timestamp converts t to an integer timestamp in precision p, truncating
// towards the past as InfluxDB does when it stamps a point (time.Truncate).
// Nanosecond timestamps wrap outside the years 1678 to 2262, as
// time.UnixNano does. It panics if p is not valid.
func (p Precision) Timestamp(t time.Time) int64 {
	switch p {
	case Nanosecond:
		return t.UnixNano()
	case Microsecond:
		return t.UnixMicro()
	case Millisecond:
		return t.UnixMilli()
	case Second:
		return t.Unix()
	case Minute:
		return floorDiv(t.Unix(), 60)
	case Hour:
		return floorDiv(t.Unix(), 3600)
	}
	panic("lineproto: Timestamp of invalid " + p.String())
}

// floorDiv divides rounding towards negative infinity (d > 0).
func floorDiv(a, d int64) int64 {
	q := a / d
	if a%d < 0 {
		q--
	}
	return q
}
