package replica

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/influxgate/influxgate/internal/backend"
)

// decodeSeries decodes a series as the query client does (UseNumber).
func decodeSeries(t testing.TB, doc string) backend.Series {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var s backend.Series
	if err := dec.Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAppendSeries(t *testing.T) {
	types := map[string][]string{"f": {"float"}, "i": {"integer"}, "u": {"unsigned"}, "s": {"string"}, "b": {"boolean"},
		"a b,c=d": {"float"}}
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"every type", `{"name":"cpu","tags":{"host":"a"},"columns":["time","b","f","i","s","u"],
			"values":[[1,true,0.1,9223372036854775807,"x",18446744073709551615]]}`,
			[]string{`cpu,host=a b=true,f=0.1,i=9223372036854775807i,s="x",u=18446744073709551615u 1`}},
		{"float printed as integer stays a float", `{"name":"m","columns":["time","f","i"],"values":[[5,1,1]]}`,
			[]string{`m f=1,i=1i 5`}},
		{"extreme floats", `{"name":"m","columns":["time","f"],"values":[[1,1e-300],[2,-2.5e+30],[3,1.7976931348623157e+308],[4,5e-324]]}`,
			[]string{"m f=1e-300 1", "m f=-2.5e+30 2", "m f=1.7976931348623157e+308 3", "m f=5e-324 4"}},
		{"string escapes", `{"name":"m","columns":["time","s"],"values":[[1,"a \"q\", b\\c\nd"],[2,""],[3,"end\\"]]}`,
			[]string{`m s="a \"q\", b\\c` + "\n" + `d" 1`, `m s="" 2`, `m s="end\\" 3`}},
		{"names and tags escaped, empty tags absent, sorted", `{"name":"disk io,x","tags":{"z":"1","k=x":"v=1, w","empty":""},
			"columns":["time","a b,c=d"],"values":[[-7,2.5]]}`,
			[]string{`disk\ io\,x,k\=x=v\=1\,\ w,z=1 a\ b\,c\=d=2.5 -7`}},
		{"null values left out, rows without fields skipped", `{"name":"m","columns":["time","f","i"],"values":[[1,null,3],[2,null,null],[3,1.5,null]]}`,
			[]string{"m i=3i 1", "m f=1.5 3"}},
		{"field with two types guessed from JSON", `{"name":"m","columns":["time","x"],"values":[[1,1.5],[2,7]]}`,
			[]string{"m x=1.5 1", "m x=7i 2"}},
	}
	types["x"] = []string{"float", "integer"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf, n, err := lineRenderer{types}.appendSeries([]byte("prefix\n"), decodeSeries(t, tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			want := "prefix\n" + strings.Join(tt.want, "\n") + "\n"
			if string(buf) != want || n != len(tt.want) {
				t.Errorf("have %d lines:\n%s\nwant %d:\n%s", n, buf, len(tt.want), want)
			}
		})
	}
}

func TestAppendSeriesErrors(t *testing.T) {
	types := map[string][]string{"f": {"float"}, "i": {"integer"}}
	for _, doc := range []string{
		`{"name":"m","columns":["f","time"],"values":[[1,1]]}`,            // time not first
		`{"name":"m","columns":["time","f"],"values":[["2024-01-01",1]]}`, // RFC 3339 time: epoch missing
		`{"name":"m","columns":["time","i"],"values":[[1,1.5]]}`,          // not an integer
		`{"name":"m","columns":["time","f"],"values":[[1,1,2]]}`,          // row longer than columns
		`{"name":"m","columns":["time","f"],"values":[[1,{}]]}`,           // unknown value
	} {
		buf, _, err := lineRenderer{types}.appendSeries([]byte("keep"), decodeSeries(t, doc))
		if err == nil {
			t.Errorf("%s: no error", doc)
		}
		if !bytes.HasPrefix(buf, []byte("keep")) || len(buf) != 4 {
			t.Errorf("%s: the buffer holds a partial line: %q", doc, buf)
		}
	}
}

// Every float64 (but NaN and the infinities, which InfluxDB cannot store)
// survives the trip through InfluxDB's JSON and line protocol bit for bit.
func FuzzFloatRoundTrip(f *testing.F) {
	for _, v := range []float64{0.1, 1e-300, 5e-324, math.MaxFloat64, math.Copysign(0, -1), 1, 0.30000000000000004} {
		f.Add(math.Float64bits(v))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		v := math.Float64frombits(bits)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		js, err := json.Marshal(v) // as influxd prints it
		if err != nil {
			t.Fatal(err)
		}
		out, err := appendValue(nil, json.Number(js), []string{"float"})
		if err != nil {
			t.Fatal(err)
		}
		back, err := strconv.ParseFloat(string(out), 64) // as influxd parses line protocol
		if err != nil || math.Float64bits(back) != bits {
			t.Fatalf("%v (%x) -> %s -> %s -> %v (%x)", v, bits, js, out, back, math.Float64bits(back))
		}
	})
}
