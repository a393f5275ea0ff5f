package lineproto

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// keyCases are lines with the escapes and layouts that decide which shard a
// line belongs to; each names the measurement and the value of tag t that
// InfluxDB stores for it.
var keyCases = []struct {
	line        string
	measurement string
	t           string
	hasT        bool
}{
	{"plain,t=v f=1 1", "plain", "v", true},
	{`with\ space,t=a\ b f=1 1`, "with space", "a b", true},
	{`with\,comma,t=a\,b f=1 1`, "with,comma", "a,b", true},
	{`eq=sign,t=a\=b f=1 1`, "eq=sign", "a=b", true},
	{`back\\slash,t=c\\d f=1 1`, `back\\slash`, `c\\d`, true},
	{`  lead,u=1,t=z f=1 1`, "lead", "z", true},
	{`notag f=1 1`, "notag", "", false},
	{`other,u=1 f=1 1`, "other", "", false},
	{`esc\\,odd,t=w f=1 1`, "esc,odd", "w", true},
	{`c\\\,d,t=1 f=1 1`, `c\,d`, "1", true},
	{`e\\\\,f,t=1 f=1 1`, `e\\,f`, "1", true},
	{`g\\ h,t=1 f=1 1`, "g h", "1", true},
	{`i\,j\\k,t=1 f=1 1`, `i,j\\k`, "1", true},
	{`tv,t=x\\,y f=1 1`, "tv", `x\,y`, true},
	{`tv,t=x\\\,z f=1 1`, "tv", `x\\,z`, true},
	{`tw,t=p\\=q f=1 1`, "tw", `p\=q`, true},
	{`m,t\=x=1,t=y f=1 1`, "m", "y", true},
	{`uni,t=é f=1 1`, "uni", "é", true},
}

func TestKeyAndTagValue(t *testing.T) {
	for _, c := range keyCases {
		m, tags := Key([]byte(c.line))
		if got := string(UnescapeMeasurement(m)); got != c.measurement {
			t.Errorf("%q: measurement %q, want %q", c.line, got, c.measurement)
		}
		v, ok := TagValue(tags, []byte("t"))
		if ok != c.hasT || string(v) != c.t {
			t.Errorf("%q: tag t = %q, %v; want %q, %v", c.line, v, ok, c.t, c.hasT)
		}
	}
}

// The cases above are what real influxd stores: each line is written to
// 1.6.7 and 1.8.10, and the measurements and tag values read back.
func TestKeyMatchesInfluxd(t *testing.T) {
	for _, version := range []string{"1.6", "1.8"} {
		t.Run(version, func(t *testing.T) {
			db := startInfluxd(t, version)
			db.query(t, "", "CREATE DATABASE k")
			var body bytes.Buffer
			for _, c := range keyCases {
				body.WriteString(c.line + "\n")
			}
			if status, msg := db.write(t, "/write", url.Values{"db": {"k"}}, body.Bytes()); status != http.StatusNoContent {
				t.Fatalf("write: %d %s", status, msg)
			}
			var want []string
			for _, c := range keyCases {
				want = append(want, c.measurement)
			}
			slices.Sort(want)
			want = slices.Compact(want)
			if got := column(t, db.query(t, "k", "SHOW MEASUREMENTS"), 0); !slices.Equal(got, want) {
				t.Errorf("influxd measurements %q, want %q", got, want)
			}
			var wantT []string
			for _, c := range keyCases {
				if c.hasT {
					wantT = append(wantT, c.measurement+"="+c.t)
				}
			}
			slices.Sort(wantT)
			var gotT []string
			raw := db.query(t, "k", `SHOW TAG VALUES WITH KEY = "t"`)
			for _, s := range decodeSeries(t, raw) {
				for _, v := range s.Values {
					gotT = append(gotT, s.Name+"="+v[1].(string))
				}
			}
			slices.Sort(gotT)
			if !slices.Equal(gotT, wantT) {
				t.Errorf("influxd tag values %q, want %q", gotT, wantT)
			}
		})
	}
}

type series struct {
	Name   string
	Values [][]any
}

func decodeSeries(t *testing.T, raw []byte) []series {
	t.Helper()
	var r struct {
		Results []struct {
			Error  string
			Series []series
		}
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	var out []series
	for _, res := range r.Results {
		if res.Error != "" {
			t.Fatalf("query error: %s", res.Error)
		}
		out = append(out, res.Series...)
	}
	return out
}

func column(t *testing.T, raw []byte, i int) []string {
	t.Helper()
	var out []string
	for _, s := range decodeSeries(t, raw) {
		for _, v := range s.Values {
			out = append(out, v[i].(string))
		}
	}
	return out
}

func FuzzKey(f *testing.F) {
	for _, c := range keyCases {
		f.Add([]byte(c.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, tags := Key(line)
		if len(m)+len(tags) > len(line) {
			t.Fatalf("key parts longer than the line")
		}
		_ = UnescapeMeasurement(m)
		_, _ = TagValue(tags, []byte("t"))
	})
}
