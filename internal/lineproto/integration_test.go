package lineproto

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Known, documented differences between ValidateLine and influxd 1.6.7.
const (
	divergeNone     = ""
	divergeUnsigned = "unsigned" // ValidateLine accepts "1u"; 1.6.7 says "invalid number"
	divergeServer   = "server"   // rejected after parsing (partial write), not by the parser
)

var validateCorpus = []struct {
	line    string
	diverge string
}{
	// Accepted.
	{`m f=1`, divergeNone},
	{`m f=1i`, divergeNone},
	{`m f=-1.5e-3`, divergeNone},
	{`m f=1E+5`, divergeNone},
	{`m f=1.`, divergeNone},
	{`m f=.5`, divergeNone},
	{`m f=-0`, divergeNone},
	{`m f=9223372036854775807i`, divergeNone},
	{`m f=-9223372036854775808i`, divergeNone},
	{`m a=t,b=T,c=true,d=True,e=TRUE`, divergeNone},
	{`m a=f,b=F,c=false,d=False,e=FALSE`, divergeNone},
	{`m f="hello world"`, divergeNone},
	{`m f=""`, divergeNone},
	{`m f="with \"quotes\" and \\ backslash"`, divergeNone},
	{"m f=\"multi\nline\"", divergeNone},
	{"m f=\"x\n# not a comment\"", divergeNone},
	{`m f="a,b=c d"`, divergeNone},
	{`m f="a"x`, divergeNone},
	{"m f=\"a\"\t", divergeNone},
	{"m f=\"a\"\r", divergeNone}, // CRLF after a string: accepted, and still accepted once stamped
	{`m f="a"\`, divergeNone},
	{`m f="a"\ `, divergeNone},
	{`m f="a"\\`, divergeNone},
	{`m,t=a f=1`, divergeNone},
	{`m,t=a,u=b f=1 1600000000000000000`, divergeNone},
	{`m,b=1,a=2 f=1`, divergeNone},
	{`m\ x,t\ k=v\,w f\ k=1`, divergeNone},
	{`m\,x,t\=k=v\=w f\=k=1`, divergeNone},
	{`m"x,t="v" f=1`, divergeNone},
	{`m#x f=1`, divergeNone},
	{" =\" 0=0\n", divergeNone},
	{`m f=1,g=2i,h="x",i=t`, divergeNone},
	{`m f=1 -1`, divergeNone},
	{`m f=1 0`, divergeNone},
	{`m f=1 0001`, divergeNone},
	{`m f=1 9223372036854775806`, divergeNone},
	{`m f=1 -9223372036854775806`, divergeNone},
	{`  m f=1`, divergeNone},
	{"\tm f=1", divergeNone},
	{`m f=1 `, divergeNone},
	{"m f=1  \t ", divergeNone},
	{`m f=1 5 `, divergeNone},
	{"m f=1 \x005", divergeNone},
	{"m f=1 \x00", divergeNone},
	{"m  f=1", divergeNone},
	{`# comment`, divergeNone},
	{`  # indented comment`, divergeNone},
	{``, divergeNone},
	{`   `, divergeNone},
	{`m f=1u`, divergeUnsigned},
	{`m f=18446744073709551615u`, divergeUnsigned},
	{`m time=1`, divergeServer},
	{`m,time=a f=1`, divergeServer},

	// Rejected.
	{`m`, divergeNone},
	{`m `, divergeNone},
	{`m,t=a`, divergeNone},
	{`,m f=1`, divergeNone},
	{`m,t f=1`, divergeNone},
	{`m,=a f=1`, divergeNone},
	{`m, f=1`, divergeNone},
	{`m,t= f=1`, divergeNone},
	{`m,t=a=b f=1`, divergeNone},
	{`m,t=a,t=b f=1`, divergeNone},
	{`m,b=1,a=2,b=3 f=1`, divergeNone},
	{`m\ f=1`, divergeNone},
	{`m =1`, divergeNone},
	{`m f=1,=2`, divergeNone},
	{`m f=`, divergeNone},
	{`m f=,g=1`, divergeNone},
	{`m f= 1`, divergeNone},
	{`m f=1,g`, divergeNone},
	{`m f`, divergeNone},
	{`m f=1,`, divergeNone},
	{`m f=1.1.1`, divergeNone},
	{`m f=1x`, divergeNone},
	{`m f=-`, divergeNone},
	{`m f=1ii`, divergeNone},
	{`m f=1.5i`, divergeNone},
	{`m f=1e5i`, divergeNone},
	{`m f=NaN`, divergeNone},
	{`m f=nan`, divergeNone},
	{`m f=-1u`, divergeNone},
	{`m f=99999999999999999999i`, divergeNone},
	{`m f=1.5e400`, divergeNone},
	{`m f=tru`, divergeNone},
	{`m f=yes`, divergeNone},
	{`m f=tRUE`, divergeNone},
	{`m f="abc`, divergeNone},
	{"m f=\"abc\nm f=1", divergeNone},
	{`m f=1 12x`, divergeNone},
	{`m f=1 1 2`, divergeNone},
	{"m f=1 1 \t", divergeNone},
	{"m f=1 1\t", divergeNone},
	{`m f=1 99999999999999999999`, divergeNone},
	{`m f=1 -`, divergeNone},
	{`m f=1 9223372036854775807`, divergeNone},
	{`m f=1 -9223372036854775807`, divergeNone},
	{"m f=1\r", divergeNone},
	{"m f=1 123\r", divergeNone},
	{"m f=1\t", divergeNone},
	{`m f=t\`, divergeNone},
	{`m f=1 \`, divergeNone},
	{"m,t=" + strings.Repeat("x", MaxKeyLength) + " f=1", divergeNone},
	{"m " + strings.Repeat("x", MaxKeyLength) + "=1", divergeNone},
}

// TestInfluxdValidateCorpus writes every corpus line, alone, to influxd
// 1.6.7 and checks that ValidateLine agrees on acceptance and on the error
// text; then it writes the stamped line and checks that stamping changed
// neither the answer nor, for accepted lines, the time they end up with.
func TestInfluxdValidateCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd")
	}
	db := startInfluxd(t, "1.6")
	const ts = 1600000000000000000
	for i, tc := range validateCorpus {
		name := fmt.Sprintf("%d", i)
		orig, stampDB := "o"+name, "s"+name
		db.query(t, "", "CREATE DATABASE "+orig)
		db.query(t, "", "CREATE DATABASE "+stampDB)

		short := tc.line
		if len(short) > 60 {
			short = short[:60] + "..."
		}
		verr := ValidateLine([]byte(tc.line))
		code, msg := db.write(t, "/write", url.Values{"db": {orig}}, []byte(tc.line))
		switch tc.diverge {
		case divergeNone:
			if (code == 204) != (verr == nil) {
				t.Errorf("%q: influxd %d %q, ValidateLine %v", short, code, msg, verr)
			} else if verr != nil && verr.Error() != msg {
				t.Errorf("%q: error text\ninfluxd:      %q\nValidateLine: %q", short, msg, verr)
			}
		case divergeUnsigned:
			if code != 400 || !strings.HasSuffix(msg, ": invalid number") || verr != nil {
				t.Errorf("%q: documented unsigned difference changed: influxd %d %q, ValidateLine %v", short, code, msg, verr)
			}
		case divergeServer:
			if code != 400 || !strings.HasPrefix(msg, "partial write: ") || verr != nil {
				t.Errorf("%q: documented server-side difference changed: influxd %d %q, ValidateLine %v", short, code, msg, verr)
			}
		}

		stamped, st := Stamp(nil, []byte(tc.line), ts)
		scode, smsg := db.write(t, "/write", url.Values{"db": {stampDB}}, stamped)
		if scode != code {
			t.Errorf("%q: stamping changed the answer: %d %q -> %d %q", short, code, msg, scode, smsg)
			continue
		}
		if scode != 204 || !IsPoint([]byte(tc.line)) || st.Unstampable > 0 {
			continue // an unstampable line keeps the time influxd gives it
		}
		want := int64(ts)
		if own, err := checkPoint([]byte(strings.TrimLeft(tc.line, " \t\x00")), Nanosecond); err == nil && len(own) > 0 {
			want, _ = parseTimestamp(own)
		}
		for k, got := range db.times(t, stampDB, "") {
			if len(got) != 1 || got[0] != want {
				t.Errorf("%q: stored %s at %v, want %d", short, k, got, want)
			}
		}
	}
}

// TestInfluxdStampedTimestamps writes stamped bodies at every precision and
// reads back the time of every point.
func TestInfluxdStampedTimestamps(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd")
	}
	db := startInfluxd(t, "1.6")
	body := strings.Join([]string{
		"# a comment, then a blank line",
		"",
		"m,k=1 id=1i",
		"m,k=2 id=2i,s=\"a b\" ",
		"  m,k=3 s=\"x\",id=3i \t",
		"m,k=4 id=4i,s=\"line\nbreak\"",
		"m,k=5 id=5i 1600000",
		"m,k=6 id=6i,s=\"x\\\" y\\\\\"",
		`m,k=7,t=a\ b id=7i`,
		"m,k=8 id=8i,s=\"# x\n\"",
		"m,k=9 id=9i",
	}, "\n")
	now := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	for _, p := range []Precision{Nanosecond, Microsecond, Millisecond, Second, Minute, Hour} {
		database := "p" + p.V1()
		db.query(t, "", "CREATE DATABASE "+database)
		ts := p.Timestamp(now)
		stamped, st := Stamp(nil, []byte(body), ts)
		if st.Lines != 9 || st.Stamped != 8 {
			t.Fatalf("%v: stats %+v", p, st)
		}
		if code, msg := db.write(t, "/write", url.Values{"db": {database}, "precision": {p.V1()}}, stamped); code != 204 {
			t.Fatalf("%v: write %d %s\n%s", p, code, msg, stamped)
		}
		got := db.times(t, database, "id")
		if len(got) != 9 {
			t.Errorf("%v: stored %d points, want 9: %v", p, len(got), got)
		}
		for id := 1; id <= 9; id++ {
			want := ts * int64(p.Duration())
			if id == 5 {
				want = 1600000 * int64(p.Duration())
			}
			k := fmt.Sprintf("m/%d", id)
			if len(got[k]) != 1 || got[k][0] != want {
				t.Errorf("%v: point id=%d stored at %v, want %d", p, id, got[k], want)
			}
		}
	}
}

// TestInfluxdRescale checks that a body rescaled from minutes or hours to a
// finer precision is stored at the same times as the original.
func TestInfluxdRescale(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd")
	}
	db := startInfluxd(t, "1.6")
	body := []byte("m,k=1 id=1i 475000\nm,k=2 id=2i,s=\"a 1\" -3 \n# 5\nm,k=3 id=3i 0\nm,k=4 id=4i 0007")
	for _, tc := range []struct{ from, to Precision }{
		{Hour, Second}, {Hour, Nanosecond}, {Minute, Millisecond}, {Minute, Microsecond}, {Second, Nanosecond},
	} {
		name := tc.from.V1() + "_" + tc.to.V1()
		want, got := "a"+name, "b"+name
		db.query(t, "", "CREATE DATABASE "+want)
		db.query(t, "", "CREATE DATABASE "+got)
		if code, msg := db.write(t, "/write", url.Values{"db": {want}, "precision": {tc.from.V1()}}, body); code != 204 {
			t.Fatalf("%s: original write %d %s", name, code, msg)
		}
		out, err := Rescale(nil, body, tc.from, tc.to)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if code, msg := db.write(t, "/write", url.Values{"db": {got}, "precision": {tc.to.V1()}}, out); code != 204 {
			t.Fatalf("%s: rescaled write %d %s", name, code, msg)
		}
		w, g := db.times(t, want, "id"), db.times(t, got, "id")
		if fmt.Sprint(w) != fmt.Sprint(g) || len(w) != 4 {
			t.Errorf("%s: stored times differ:\noriginal %v\nrescaled %v", name, w, g)
		}
	}
}

// TestInfluxd18PrecisionErrors checks the precision error texts against
// influxd 1.8.10, the newest 1.x that builds here.
func TestInfluxd18PrecisionErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd")
	}
	db := startInfluxd(t, "1.8")
	db.query(t, "", "CREATE DATABASE t")
	for _, p := range []string{"", "n", "ns", "u", "us", "ms", "s", "m", "h", "x", "NS", `a"b`, "é"} {
		_, err1 := ParsePrecisionV1(p)
		code, msg := db.write(t, "/write", url.Values{"db": {"t"}, "precision": {p}}, []byte("m f=1"))
		if (err1 == nil) != (code == 204) || (err1 != nil && err1.Error() != msg) {
			t.Errorf("v1 precision %q: influxd %d %q, ParsePrecisionV1 %v", p, code, msg, err1)
		}
		_, err2 := ParsePrecisionV2(p)
		code, msg = db.write(t, "/api/v2/write", url.Values{"bucket": {"t"}, "precision": {p}}, []byte("m f=1"))
		if (err2 == nil) != (code == 204) || (err2 != nil && err2.Error() != msg) {
			t.Errorf("v2 precision %q: influxd %d %q, ParsePrecisionV2 %v", p, code, msg, err2)
		}
	}
}
