package replica

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/influxgate/influxgate/internal/backend"
)

// Rendering query results as line protocol.
//
// Rows come from SELECT * ... GROUP BY * at epoch=ns: GROUP BY * moves every
// tag into the series' tags, so the columns after time are exactly the
// fields — even when a tag and a field share a name, which SHOW TAG KEYS
// alone could not tell apart. SHOW FIELD KEYS gives each field's type,
// because JSON alone cannot: InfluxDB prints the float 1.0 as 1.

// lineRenderer renders the series of one measurement of one retention
// policy, whose field types it knows.
type lineRenderer struct {
	types map[string][]string // field key -> types from SHOW FIELD KEYS
}

// appendSeries appends one line per row of s to dst and returns the
// extended buffer and the number of lines. A row without any field value is
// not a point and is skipped.
func (r lineRenderer) appendSeries(dst []byte, s backend.Series) ([]byte, int, error) {
	if len(s.Columns) == 0 || s.Columns[0] != "time" {
		return dst, 0, fmt.Errorf("series %q: columns %v do not start with time", s.Name, s.Columns)
	}
	key := appendSeriesKey(nil, s.Name, s.Tags)
	fieldKeys := make([][]byte, len(s.Columns))
	for i := 1; i < len(s.Columns); i++ {
		fieldKeys[i] = appendEscaped(nil, s.Columns[i], keyEscapes)
	}
	n := 0
	for _, row := range s.Values {
		if len(row) != len(s.Columns) {
			return dst, n, fmt.Errorf("series %q: row of %d values for %d columns", s.Name, len(row), len(s.Columns))
		}
		mark := len(dst)
		dst = append(dst, key...)
		sep := byte(' ')
		for i := 1; i < len(row); i++ {
			if row[i] == nil {
				continue
			}
			dst = append(dst, sep)
			sep = ','
			dst = append(dst, fieldKeys[i]...)
			dst = append(dst, '=')
			var err error
			if dst, err = appendValue(dst, row[i], r.types[s.Columns[i]]); err != nil {
				return dst[:mark], n, fmt.Errorf("series %q field %q: %w", s.Name, s.Columns[i], err)
			}
		}
		if sep == ' ' {
			dst = dst[:mark]
			continue
		}
		ts, ok := row[0].(json.Number)
		if _, err := strconv.ParseInt(string(ts), 10, 64); !ok || err != nil {
			return dst[:mark], n, fmt.Errorf("series %q: time %v is not an integer (epoch=ns missing?)", s.Name, row[0])
		}
		dst = append(dst, ' ')
		dst = append(dst, ts...)
		dst = append(dst, '\n')
		n++
	}
	return dst, n, nil
}

// appendSeriesKey appends the measurement and its tags, sorted by key as
// InfluxDB stores them. A tag with an empty value is absent: GROUP BY *
// reports the tag keys a series does not have as "".
func appendSeriesKey(dst []byte, name string, tags map[string]string) []byte {
	dst = appendEscaped(dst, name, measurementEscapes)
	keys := make([]string, 0, len(tags))
	for k, v := range tags {
		if v != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		dst = append(dst, ',')
		dst = appendEscaped(dst, k, keyEscapes)
		dst = append(dst, '=')
		dst = appendEscaped(dst, tags[k], keyEscapes)
	}
	return dst
}

// appendValue appends one field value in the type the field has, so that
// it is stored on the target exactly as on the source: floats in the
// shortest form that parses back to the same bits, integers with i,
// unsigned integers with u, strings quoted and escaped, booleans.
func appendValue(dst []byte, v any, types []string) ([]byte, error) {
	switch v := v.(type) {
	case string:
		dst = append(dst, '"')
		dst = appendEscaped(dst, v, stringEscapes)
		return append(dst, '"'), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case json.Number:
		typ := ""
		switch {
		case len(types) == 1:
			typ = types[0]
		case strings.ContainsAny(string(v), ".eE"):
			// A field with several types (a conflict between shards):
			// the JSON form is the only hint left.
			typ = "float"
		default:
			typ = "integer"
		}
		switch typ {
		case "float":
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return dst, fmt.Errorf("float %s: %w", v, err)
			}
			return strconv.AppendFloat(dst, f, 'g', -1, 64), nil
		case "integer":
			i, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return dst, fmt.Errorf("integer %s: %w", v, err)
			}
			return append(strconv.AppendInt(dst, i, 10), 'i'), nil
		case "unsigned":
			u, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil {
				return dst, fmt.Errorf("unsigned %s: %w", v, err)
			}
			return append(strconv.AppendUint(dst, u, 10), 'u'), nil
		}
		return dst, fmt.Errorf("number %s for a field of type %q", v, typ)
	}
	return dst, fmt.Errorf("unexpected value %#v", v)
}

// Line protocol escaping: measurements escape commas and spaces; tag keys,
// tag values and field keys also escape equals signs; string field values
// escape double quotes and backslashes. A newline inside a quoted string
// value needs no escape: InfluxDB reads quoted strings across lines.
var (
	measurementEscapes = escapes(",", " ")
	keyEscapes         = escapes(",", "=", " ")
	stringEscapes      = escapes(`"`, `\`)
)

type escapeSet [256]bool

func escapes(chars ...string) *escapeSet {
	var e escapeSet
	for _, c := range chars {
		e[c[0]] = true
	}
	return &e
}

func appendEscaped(dst []byte, s string, e *escapeSet) []byte {
	for i := 0; i < len(s); i++ {
		if e[s[i]] {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return dst
}
