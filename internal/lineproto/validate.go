package lineproto

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unsafe"
)

// MaxKeyLength is InfluxDB's limit on the length of a series key
// (measurement and tags as written, plus 4 and the field key for each field).
const MaxKeyLength = 65535

// The time range InfluxDB 1.x accepts: the two lowest and the highest int64
// nanoseconds are reserved.
const (
	MinNanoTime = math.MinInt64 + 2
	MaxNanoTime = math.MaxInt64 - 1
)

// Reasons ValidateLine gives, worded as InfluxDB 1.x words them.
var (
	ErrInvalidNumber   = errors.New("invalid number")
	ErrInvalidPoint    = errors.New("point is invalid")
	ErrTimeOutOfRange  = fmt.Errorf("time outside range %d - %d", int64(MinNanoTime), int64(MaxNanoTime))
	errMissingMeas     = errors.New("missing measurement")
	errMissingFields   = errors.New("missing fields")
	errMissingTagKey   = errors.New("missing tag key")
	errMissingTagValue = errors.New("missing tag value")
	errInvalidTag      = errors.New("invalid tag format")
	errDuplicateTags   = errors.New("duplicate tags")
	errMissingFieldKey = errors.New("missing field key")
	errMissingFieldVal = errors.New("missing field value")
	errInvalidBoolean  = errors.New("invalid boolean")
	errInvalidFloat    = errors.New("invalid float")
	errUnbalanced      = errors.New("unbalanced quotes")
	errFieldFormat     = errors.New("invalid field format")
	errBadTimestamp    = errors.New("bad timestamp")
)

// ValidateLine checks one line as InfluxDB 1.x's parser would at nanosecond
// precision; see ValidateLinePrecision.
func ValidateLine(line []byte) error { return ValidateLinePrecision(line, Nanosecond) }

// ValidateLinePrecision checks one line, as passed by Lines, the way InfluxDB
// 1.x's line-protocol parser does, with timestamps in precision p. It returns
// nil for a well-formed point and for blank and comment lines (which InfluxDB
// skips), and otherwise an error worded like InfluxDB's:
// `unable to parse '<line>': <reason>`, where <line> is the line without its
// leading whitespace. The reason errors are checked in InfluxDB's order:
// measurement and tags (including duplicate tag keys and the key length),
// the field set (key=value pairs; values are floats, integers with "i",
// unsigned integers with "u", booleans t, T, true, True, TRUE, f, F, false,
// False, FALSE, or double-quoted strings), then the optional integer
// timestamp and its range.
//
// Differences from influxd 1.x, which the tests pin down: unsigned values
// ("1u") are accepted, as InfluxDB 1.8 with uint support and 2.x accept
// them, while a stock 1.x influxd rejects them ("invalid number"); and checks
// the server makes after parsing (field or tag key "time", field type
// conflicts, retention, series limits) are not made here.
//
// It does not allocate unless the line is invalid.
func ValidateLinePrecision(line []byte, p Precision) error {
	s := skipWS(line, 0)
	if s == len(line) || line[s] == '#' {
		return nil
	}
	b := line[s:]
	if b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if _, err := checkPoint(b, p); err != nil {
		return fmt.Errorf("unable to parse '%s': %w", b, err)
	}
	return nil
}

// checkPoint validates one point line that starts with a non-whitespace
// byte, following InfluxDB 1.x's parsePoint step by step, and returns its
// timestamp token (empty if none).
func checkPoint(buf []byte, p Precision) ([]byte, error) {
	pos, err := checkKey(buf)
	if err != nil {
		return nil, err
	}
	if pos > MaxKeyLength {
		return nil, fmt.Errorf("max key length exceeded: %v > %v", pos, MaxKeyLength)
	}
	key := buf[:pos]

	pos, fields, err := checkFields(buf, pos)
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return nil, errMissingFields
	}
	if err := walkFields(key, fields); err != nil {
		return nil, err
	}

	start := skipWS(buf, pos)
	pos = start
	for pos < len(buf) && buf[pos] != '\n' && buf[pos] != ' ' {
		if pos == start && buf[pos] == '-' {
			pos++
			continue
		}
		if buf[pos] < '0' || buf[pos] > '9' {
			return nil, errBadTimestamp
		}
		pos++
	}
	ts := buf[start:pos]
	if len(ts) == 0 {
		return ts, nil
	}
	v, ok := parseTimestamp(ts)
	if !ok {
		_, perr := strconv.ParseInt(string(ts), 10, 64)
		return nil, perr
	}
	if !inRange(v, int64(p.Duration())) {
		return nil, ErrTimeOutOfRange
	}
	for ; pos < len(buf); pos++ {
		if buf[pos] != ' ' {
			return nil, ErrInvalidPoint
		}
	}
	return ts, nil
}

// inRange mirrors InfluxDB's SafeCalcTime: v units of mult nanoseconds must
// multiply without overflow into [MinNanoTime, MaxNanoTime].
func inRange(v, mult int64) bool {
	ns := v * mult
	switch {
	case v == 0 || v == 1 || mult == 1:
	case v == MinNanoTime || ns/mult != v:
		return false
	}
	return ns >= MinNanoTime && ns <= MaxNanoTime
}

// parseTimestamp parses an optional '-' and decimal digits into an int64.
func parseTimestamp(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if u > (math.MaxUint64-9)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// checkKey scans the measurement and tags, as InfluxDB's scanKey does, and
// returns the index of the space that ends them.
func checkKey(buf []byte) (int, error) {
	if len(buf) == 0 || buf[0] == ',' {
		return 0, errMissingMeas
	}
	i := 0
	for {
		i++
		if i >= len(buf) {
			return i, errMissingFields
		}
		if buf[i-1] == '\\' {
			continue
		}
		if buf[i] == ' ' {
			return i, nil
		}
		if buf[i] == ',' {
			break
		}
	}
	// Tags: remember where each key starts to look for duplicates. A stack
	// array covers the common case without allocating.
	var small [32]int
	starts := small[:0]
	i++
	for {
		// tag key
		if i >= len(buf) || buf[i] == ' ' || buf[i] == ',' || buf[i] == '=' {
			return i, errMissingTagKey
		}
		starts = append(starts, i)
		for {
			i++
			if i >= len(buf) || ((buf[i] == ' ' || buf[i] == ',') && buf[i-1] != '\\') {
				return i, errMissingTagValue
			}
			if buf[i] == '=' && buf[i-1] != '\\' {
				i++
				break
			}
		}
		// tag value
		if i >= len(buf) || buf[i] == ',' || buf[i] == ' ' {
			return i, errMissingTagValue
		}
		end := false
		for {
			i++
			if i >= len(buf) {
				return i, errMissingFields
			}
			if buf[i] == '=' && buf[i-1] != '\\' {
				return i, errInvalidTag
			}
			if buf[i] == ',' && buf[i-1] != '\\' {
				i++
				break
			}
			if buf[i] == ' ' && buf[i-1] != '\\' {
				end = true
				break
			}
		}
		if end {
			break
		}
	}
	for a := 0; a < len(starts); a++ {
		ka := tagKey(buf, starts[a])
		for b := a + 1; b < len(starts); b++ {
			if bytes.Equal(ka, tagKey(buf, starts[b])) {
				return i, errDuplicateTags
			}
		}
	}
	return i, nil
}

// tagKey returns the tag key starting at buf[i]: up to the first '=' not
// preceded by a backslash.
func tagKey(buf []byte, i int) []byte {
	j := i
	for j < len(buf) && !(buf[j] == '=' && (j == 0 || buf[j-1] != '\\')) {
		j++
	}
	return buf[i:j]
}

// checkFields validates the field set starting after the key, as
// InfluxDB's scanFields does, and returns its end and the field set.
func checkFields(buf []byte, i int) (int, []byte, error) {
	start := skipWS(buf, i)
	i = start
	quoted := false
	equals, commas := 0, 0
	for i < len(buf) {
		c := buf[i]
		if c == '\\' && i+1 < len(buf) {
			i += 2
			continue
		}
		if c == '"' && equals > commas {
			quoted = !quoted
			i++
			continue
		}
		if c == '=' && !quoted {
			equals++
			if buf[i-1] == ' ' && buf[i-2] != '\\' {
				return i, nil, errMissingFieldKey
			}
			if buf[i-1] == ',' && buf[i-2] != '\\' {
				return i, nil, errMissingFieldKey
			}
			if i+1 >= len(buf) || buf[i+1] == ',' || buf[i+1] == ' ' {
				return i, nil, errMissingFieldVal
			}
			next := buf[i+1]
			var err error
			switch {
			case isNumeric(next) || next == '-' || next == 'N' || next == 'n':
				i, err = checkNumber(buf, i+1)
			case next != '"':
				i, err = checkBoolean(buf, i+1)
			default:
				i++
				continue
			}
			if err != nil {
				return i, nil, err
			}
			continue
		}
		if c == ',' && !quoted {
			commas++
		}
		if c == ' ' && !quoted {
			break
		}
		i++
	}
	if quoted {
		return i, nil, errUnbalanced
	}
	if equals == 0 || commas != equals-1 {
		return i, nil, errFieldFormat
	}
	return i, buf[start:i], nil
}

func isNumeric(c byte) bool { return (c >= '0' && c <= '9') || c == '.' }

// checkNumber validates a float, integer ("i") or unsigned ("u") value
// starting at buf[i] as InfluxDB's scanNumber does, with unsigned values
// enabled.
func checkNumber(buf []byte, i int) (int, error) {
	start := i
	var isInt, isUnsigned, decimal, scientific bool
	if i < len(buf) && buf[i] == '-' {
		i++
		if i == len(buf) {
			return i, ErrInvalidNumber
		}
	}
	for i < len(buf) {
		c := buf[i]
		if c == ',' || c == ' ' {
			break
		}
		if c == 'i' && i > start && !(isInt || isUnsigned) {
			isInt = true
			i++
			continue
		}
		if c == 'u' && i > start && !(isInt || isUnsigned) {
			isUnsigned = true
			i++
			continue
		}
		if c == '.' {
			if decimal {
				return i, ErrInvalidNumber
			}
			decimal = true
		}
		if i > start && (c == 'e' || c == 'E') {
			scientific = true
			i++
			continue
		}
		if (c == '+' || c == '-') && (buf[i-1] == 'e' || buf[i-1] == 'E') {
			i++
			continue
		}
		if i+2 < len(buf) && (c == 'N' || c == 'n') {
			return i, ErrInvalidNumber
		}
		if !isNumeric(c) {
			return i, ErrInvalidNumber
		}
		i++
	}
	if (isInt || isUnsigned) && (decimal || scientific) {
		return i, ErrInvalidNumber
	}
	digits := i - start
	if isInt {
		digits--
	}
	if decimal {
		digits--
	}
	if buf[start] == '-' {
		digits--
	}
	if digits == 0 {
		return i, ErrInvalidNumber
	}
	switch {
	case isInt:
		if buf[i-1] != 'i' {
			return i, ErrInvalidNumber
		}
		if num := buf[start : i-1]; len(num) >= 19 {
			if _, err := strconv.ParseInt(bytesString(num), 10, 64); err != nil {
				return i, fmt.Errorf("unable to parse integer %s: %s", num, err)
			}
		}
	case isUnsigned:
		if buf[i-1] != 'u' || buf[start] == '-' {
			return i, ErrInvalidNumber
		}
		if num := buf[start : i-1]; len(num) >= 20 {
			if _, err := strconv.ParseUint(bytesString(num), 10, 64); err != nil {
				return i, fmt.Errorf("unable to parse unsigned %s: %s", num, err)
			}
		}
	default:
		if scientific || i-start >= 25 {
			if _, err := strconv.ParseFloat(bytesString(buf[start:i]), 64); err != nil {
				return i, errInvalidFloat
			}
		}
	}
	return i, nil
}

// checkBoolean validates a boolean value starting at buf[i] as InfluxDB's
// scanBoolean does.
func checkBoolean(buf []byte, i int) (int, error) {
	start := i
	if i < len(buf) && buf[i] != 't' && buf[i] != 'f' && buf[i] != 'T' && buf[i] != 'F' {
		return i, errInvalidBoolean
	}
	i++
	for i < len(buf) && buf[i] != ',' && buf[i] != ' ' {
		i++
	}
	v := buf[start:i]
	if len(v) == 1 {
		return i, nil
	}
	switch string(v) {
	case "true", "True", "TRUE", "false", "False", "FALSE":
		return i, nil
	}
	return i, errInvalidBoolean
}

// walkFields checks each field's series key length, and the field-set
// shape the way InfluxDB's walkFields does after scanFields accepted it.
func walkFields(key, buf []byte) error {
	for len(buf) > 0 {
		i := 0
		for i < len(buf) && !(buf[i] == '=' && (i == 0 || buf[i-1] != '\\')) {
			i++
		}
		fk := buf[:i]
		if i > len(buf)-2 {
			return fmt.Errorf("invalid value: field-key=%s", fk)
		}
		if sz := len(key) + 4 + len(fk); sz > MaxKeyLength {
			return fmt.Errorf("max key length exceeded: %v > %v", sz, MaxKeyLength)
		}
		buf = buf[i+1:]
		buf = buf[fieldValueEnd(buf):]
		if len(buf) > 0 {
			buf = buf[1:]
		}
	}
	return nil
}

// fieldValueEnd returns the end of the field value at the start of buf: the
// first ',' outside double quotes, where backslash escapes only '"' and '\\'.
func fieldValueEnd(buf []byte) int {
	quoted := false
	i := 0
	for i < len(buf) {
		c := buf[i]
		if c == '\\' && i+1 < len(buf) && (buf[i+1] == '"' || buf[i+1] == '\\') {
			i += 2
			continue
		}
		if c == '"' {
			quoted = !quoted
		} else if c == ',' && !quoted {
			break
		}
		i++
	}
	return i
}

// bytesString views b as a string without copying, for the strconv parsers;
// b is not modified while the string is in use.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
