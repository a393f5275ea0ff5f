package testinflux

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Points returns every point of db, in every retention policy, as sorted
// canonical line-protocol strings, for comparing two replicas point for
// point:
//
//	measurement,tag1=v,tag2=v field1=1.5,field2=3i,field3="s",field4=true <ns>
//
// Tags and fields are sorted by key, empty tag values are left out, the time
// is in nanoseconds, and field types are preserved: floats as InfluxDB's JSON
// prints them (1, 1.5, 1e+30), integers with i, unsigned with u (1.8),
// strings quoted with \" and \\ escaped, booleans as true/false. Names are
// escaped as line protocol escapes them. A point in a retention policy other
// than the database's default is prefixed with the quoted policy and a dot:
// "week".cpu,host=a value=1 0.
//
// A database that does not exist yields no points. A field whose type
// differs between shards (possible after a type conflict across shard
// groups) is rendered from its JSON value: with a decimal point or exponent
// as a float, otherwise as an integer.
func (s *Server) Points(t testing.TB, db string) []string {
	t.Helper()
	pts, err := s.points(db)
	if err != nil {
		t.Fatalf("testinflux: points of %s on influxd %s at %s: %v", db, s.opts.Version, s.Addr(), err)
	}
	return pts
}

func (s *Server) points(db string) ([]string, error) {
	qdb := QuoteIdent(db)
	// SHOW MEASUREMENTS goes first: when SHOW RETENTION POLICIES fails on a
	// missing database, influxd reports the first statement as "not
	// executed" instead of the error.
	r, err := s.query(db, "SHOW MEASUREMENTS ON "+qdb+"; SHOW RETENTION POLICIES ON "+qdb)
	if err != nil {
		return nil, err
	}
	for _, res := range r.Results {
		if isDatabaseNotFound(res.Error) {
			return nil, nil
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if len(r.Results) != 2 {
		return nil, fmt.Errorf("want 2 results, have %d: %s", len(r.Results), clip(r.Body))
	}
	rps, err := retentionPolicies(r.Results[1])
	if err != nil {
		return nil, err
	}
	var measurements []string
	for _, se := range r.Results[0].Series {
		for _, row := range se.Values {
			if len(row) > 0 {
				if m, ok := row[0].(string); ok {
					measurements = append(measurements, m)
				}
			}
		}
	}
	if len(measurements) == 0 {
		return nil, nil
	}

	// One request: for every policy and measurement, its field types and
	// its points. One SELECT per measurement (not a regex source) keeps
	// each measurement's field types apart.
	type source struct{ prefix, from string }
	var sources []source
	var stmts []string
	for _, rp := range rps {
		prefix := ""
		if !rp.isDefault {
			prefix = QuoteIdent(rp.name) + "."
		}
		for _, m := range measurements {
			from := QuoteIdent(rp.name) + "." + QuoteIdent(m)
			sources = append(sources, source{prefix, from})
			stmts = append(stmts, "SHOW FIELD KEYS ON "+qdb+" FROM "+from, "SELECT * FROM "+from+" GROUP BY *")
		}
	}
	r, err = s.query(db, strings.Join(stmts, "; "))
	if err != nil {
		return nil, err
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if len(r.Results) != len(stmts) {
		return nil, fmt.Errorf("want %d results, have %d", len(stmts), len(r.Results))
	}
	var out []string
	for i, src := range sources {
		types := fieldTypes(r.Results[2*i])
		lines, err := renderSeries(src.prefix, r.Results[2*i+1].Series, types)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.from, err)
		}
		out = append(out, lines...)
	}
	slices.Sort(out)
	return out, nil
}

type retentionPolicy struct {
	name      string
	isDefault bool
}

// retentionPolicies reads SHOW RETENTION POLICIES (columns name, ...,
// default).
func retentionPolicies(res Result) ([]retentionPolicy, error) {
	var rps []retentionPolicy
	for _, se := range res.Series {
		nameCol, defCol := slices.Index(se.Columns, "name"), slices.Index(se.Columns, "default")
		if nameCol < 0 || defCol < 0 {
			return nil, fmt.Errorf("SHOW RETENTION POLICIES has columns %v", se.Columns)
		}
		for _, row := range se.Values {
			name, _ := row[nameCol].(string)
			def, _ := row[defCol].(bool)
			rps = append(rps, retentionPolicy{name, def})
		}
	}
	return rps, nil
}

// fieldTypes reads SHOW FIELD KEYS (columns fieldKey, fieldType) into the
// types of each field; a field has several after a cross-shard conflict.
func fieldTypes(res Result) map[string][]string {
	types := make(map[string][]string)
	for _, se := range res.Series {
		for _, row := range se.Values {
			if len(row) < 2 {
				continue
			}
			k, _ := row[0].(string)
			typ, _ := row[1].(string)
			if !slices.Contains(types[k], typ) {
				types[k] = append(types[k], typ)
			}
		}
	}
	return types
}

// renderSeries renders the rows of SELECT * ... GROUP BY * as canonical
// points.
func renderSeries(prefix string, series []Series, types map[string][]string) ([]string, error) {
	var out []string
	for _, se := range series {
		if len(se.Columns) == 0 || se.Columns[0] != "time" {
			return nil, fmt.Errorf("series %q does not start with a time column: %v", se.Name, se.Columns)
		}
		var key strings.Builder
		key.WriteString(prefix)
		key.WriteString(measurementEscaper.Replace(se.Name))
		tagKeys := make([]string, 0, len(se.Tags))
		for k, v := range se.Tags {
			if v != "" { // GROUP BY * reports absent tags as ""
				tagKeys = append(tagKeys, k)
			}
		}
		slices.Sort(tagKeys)
		for _, k := range tagKeys {
			key.WriteString("," + keyEscaper.Replace(k) + "=" + keyEscaper.Replace(se.Tags[k]))
		}
		// Columns after time are the field keys, sorted by influxd.
		order := make([]int, 0, len(se.Columns)-1)
		for i := 1; i < len(se.Columns); i++ {
			order = append(order, i)
		}
		slices.SortFunc(order, func(a, b int) int { return strings.Compare(se.Columns[a], se.Columns[b]) })
		for _, row := range se.Values {
			if len(row) != len(se.Columns) {
				return nil, fmt.Errorf("series %q: row of %d values for %d columns", se.Name, len(row), len(se.Columns))
			}
			var fields []string
			for _, i := range order {
				if row[i] == nil {
					continue
				}
				v, err := renderField(row[i], types[se.Columns[i]])
				if err != nil {
					return nil, fmt.Errorf("series %q field %q: %w", se.Name, se.Columns[i], err)
				}
				fields = append(fields, keyEscaper.Replace(se.Columns[i])+"="+v)
			}
			if len(fields) == 0 {
				continue // not a point of this series (cannot happen with GROUP BY *)
			}
			ts, ok := row[0].(json.Number)
			if !ok {
				return nil, fmt.Errorf("series %q: time %v is not a number (epoch=ns missing?)", se.Name, row[0])
			}
			out = append(out, key.String()+" "+strings.Join(fields, ",")+" "+ts.String())
		}
	}
	return out, nil
}

// renderField renders one field value in line protocol, using the field's
// type from SHOW FIELD KEYS to tell integers from floats (JSON prints the
// float 1.0 as 1).
func renderField(v any, types []string) (string, error) {
	switch v := v.(type) {
	case string:
		return `"` + fieldStringEscaper.Replace(v) + `"`, nil
	case bool:
		return strconv.FormatBool(v), nil
	case json.Number:
		typ := ""
		if len(types) == 1 {
			typ = types[0]
		} else if strings.ContainsAny(v.String(), ".eE") {
			typ = "float"
		} else {
			typ = "integer"
		}
		switch typ {
		case "float":
			return v.String(), nil
		case "integer":
			return v.String() + "i", nil
		case "unsigned":
			return v.String() + "u", nil
		}
		return "", fmt.Errorf("number %s for a field of type %s", v, typ)
	}
	return "", fmt.Errorf("unexpected value %#v", v)
}

// Line protocol escaping: measurements escape commas and spaces; tag keys,
// tag values and field keys also escape equals signs; string field values
// escape double quotes and backslashes.
var (
	measurementEscaper = strings.NewReplacer(",", `\,`, " ", `\ `)
	keyEscaper         = strings.NewReplacer(",", `\,`, "=", `\=`, " ", `\ `)
	fieldStringEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)
)
