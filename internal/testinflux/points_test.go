package testinflux

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// decodeSeries decodes a /query answer's first result the way query does.
func decodeSeries(t *testing.T, doc string) []Series {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.UseNumber()
	var r struct{ Results []Result }
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r.Results[0].Series
}

func TestRenderSeries(t *testing.T) {
	t.Parallel()
	// An answer of SELECT * ... GROUP BY * as influxd gives it.
	series := decodeSeries(t, `{"results":[{"statement_id":0,"series":[
		{"name":"c pu","tags":{"host":"","re gion":"x,y"},"columns":["time","b","i","s","v"],
		 "values":[[4000,null,3,null,null],[5000,true,-2,"a \"q\" \\ b",1]]},
		{"name":"c pu","tags":{"host":"h=1","re gion":""},"columns":["time","b","i","s","v"],
		 "values":[[2000,null,null,null,1.5],[3000,null,null,null,null]]}]}]}`)
	types := map[string][]string{"b": {"boolean"}, "i": {"integer"}, "s": {"string"}, "v": {"float"}}
	got, err := renderSeries(`"rp".`, series, types)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`"rp".c\ pu,re\ gion=x\,y i=3i 4000`,
		`"rp".c\ pu,re\ gion=x\,y b=true,i=-2i,s="a \"q\" \\ b",v=1 5000`,
		`"rp".c\ pu,host=h\=1 v=1.5 2000`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("renderSeries =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRenderSeriesErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ doc, want string }{
		{`{"results":[{"series":[{"name":"m","columns":["v"],"values":[[1]]}]}]}`, "time column"},
		{`{"results":[{"series":[{"name":"m","columns":["time","v"],"values":[[1]]}]}]}`, "row of 1 values"},
		{`{"results":[{"series":[{"name":"m","columns":["time","v"],"values":[["2020-01-01T00:00:00Z",1]]}]}]}`, "epoch=ns"},
		{`{"results":[{"series":[{"name":"m","columns":["time","v"],"values":[[1,{"x":1}]]}]}]}`, "unexpected value"},
	}
	for _, tt := range tests {
		_, err := renderSeries("", decodeSeries(t, tt.doc), map[string][]string{"v": {"float"}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.doc, err, tt.want)
		}
	}
}

func TestRenderFieldTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v     any
		types []string
		want  string
	}{
		{json.Number("1"), []string{"float"}, "1"},
		{json.Number("1"), []string{"integer"}, "1i"},
		{json.Number("18446744073709551615"), []string{"unsigned"}, "18446744073709551615u"},
		{json.Number("2"), []string{"float", "integer"}, "2i"}, // conflict: from the JSON text
		{json.Number("2.5"), []string{"float", "integer"}, "2.5"},
		{json.Number("1e+30"), nil, "1e+30"},
		{false, []string{"boolean"}, "false"},
		{`a"b\c`, []string{"string"}, `"a\"b\\c"`},
	}
	for _, tt := range tests {
		got, err := renderField(tt.v, tt.types)
		if err != nil || got != tt.want {
			t.Errorf("renderField(%v, %v) = %q, %v; want %q", tt.v, tt.types, got, err, tt.want)
		}
	}
	if _, err := renderField(json.Number("1"), []string{"string"}); err == nil {
		t.Error("a number for a string field rendered without error")
	}
}

func TestQuoteIdent(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{`db`: `"db"`, `a "b"`: `"a \"b\""`, `c\d`: `"c\\d"`} {
		if got := QuoteIdent(in); got != want {
			t.Errorf("QuoteIdent(%q) = %s, want %s", in, got, want)
		}
	}
}
