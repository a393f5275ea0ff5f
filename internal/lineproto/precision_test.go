package lineproto

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParsePrecision(t *testing.T) {
	v1 := map[string]Precision{"": Nanosecond, "n": Nanosecond, "ns": Nanosecond, "u": Microsecond,
		"ms": Millisecond, "s": Second, "m": Minute, "h": Hour}
	for in, want := range v1 {
		if got, err := ParsePrecisionV1(in); err != nil || got != want {
			t.Errorf("ParsePrecisionV1(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	v2 := map[string]Precision{"": Nanosecond, "ns": Nanosecond, "us": Microsecond, "ms": Millisecond, "s": Second}
	for in, want := range v2 {
		if got, err := ParsePrecisionV2(in); err != nil || got != want {
			t.Errorf("ParsePrecisionV2(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	bad1 := map[string]string{
		"us": `invalid precision "us" (use n, u, ms, s, m or h)`,
		"x":  `invalid precision "x" (use n, u, ms, s, m or h)`,
		"S":  `invalid precision "S" (use n, u, ms, s, m or h)`,
		`"`:  `invalid precision "\"" (use n, u, ms, s, m or h)`,
	}
	for in, want := range bad1 {
		if _, err := ParsePrecisionV1(in); err == nil || err.Error() != want {
			t.Errorf("ParsePrecisionV1(%q) error %v, want %s", in, err, want)
		}
	}
	bad2 := map[string]string{
		"n": `invalid precision "n" (use ns, us, ms or s)`,
		"m": `invalid precision "m" (use ns, us, ms or s)`,
		"h": `invalid precision "h" (use ns, us, ms or s)`,
		"u": `invalid precision "u" (use ns, us, ms or s)`,
	}
	for in, want := range bad2 {
		if _, err := ParsePrecisionV2(in); err == nil || err.Error() != want {
			t.Errorf("ParsePrecisionV2(%q) error %v, want %s", in, err, want)
		}
	}
}

func TestPrecisionNames(t *testing.T) {
	cases := []struct {
		p      Precision
		v1, v2 string
		ok     bool
		str    string
		d      time.Duration
	}{
		{Nanosecond, "n", "ns", true, "ns", time.Nanosecond},
		{Microsecond, "u", "us", true, "us", time.Microsecond},
		{Millisecond, "ms", "ms", true, "ms", time.Millisecond},
		{Second, "s", "s", true, "s", time.Second},
		{Minute, "m", "", false, "m", time.Minute},
		{Hour, "h", "", false, "h", time.Hour},
		{Precision(9), "", "", false, "Precision(9)", 0},
	}
	for _, tc := range cases {
		v2, ok := tc.p.V2()
		if tc.p.V1() != tc.v1 || v2 != tc.v2 || ok != tc.ok || tc.p.String() != tc.str || tc.p.Duration() != tc.d {
			t.Errorf("%d: got %q %q %v %q %v", tc.p, tc.p.V1(), v2, ok, tc.p.String(), tc.p.Duration())
		}
		if tc.p.Valid() {
			// Every name parses back to the same precision.
			if p, err := ParsePrecisionV1(tc.v1); err != nil || p != tc.p {
				t.Errorf("V1 name %q does not round-trip: %v %v", tc.v1, p, err)
			}
			if ok {
				if p, err := ParsePrecisionV2(v2); err != nil || p != tc.p {
					t.Errorf("V2 name %q does not round-trip: %v %v", v2, p, err)
				}
			}
		}
	}
}

func TestPrecisionTimestamp(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	sec := at.Unix()
	want := map[Precision]int64{
		Nanosecond:  sec*1e9 + 123456789,
		Microsecond: sec*1e6 + 123456,
		Millisecond: sec*1e3 + 123,
		Second:      sec,
		Minute:      sec / 60,
		Hour:        sec / 3600,
	}
	for p, w := range want {
		if got := p.Timestamp(at); got != w {
			t.Errorf("%v: Timestamp = %d, want %d", p, got, w)
		}
		// Same result as InfluxDB's stamping: truncate, then divide.
		if got := at.Truncate(p.Duration()).UnixNano() / int64(p.Duration()); got != w {
			t.Errorf("%v: truncation disagrees: %d", p, got)
		}
	}
	// Before 1970 truncation goes towards the past.
	before := time.Date(1969, 12, 31, 23, 59, 30, 500, time.UTC)
	for p, w := range map[Precision]int64{Second: -30, Minute: -1, Hour: -1, Millisecond: -30000, Microsecond: -30000000} {
		if got := p.Timestamp(before); got != w {
			t.Errorf("%v before 1970: %d, want %d", p, got, w)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Timestamp of an invalid precision must panic")
		}
	}()
	Precision(42).Timestamp(at)
}

func TestRescale(t *testing.T) {
	cases := []struct {
		name     string
		from, to Precision
		in, want string
	}{
		{"hour to second", Hour, Second, "m f=1 2\n", "m f=1 7200\n"},
		{"minute to ns", Minute, Nanosecond, "m f=1 -2", "m f=1 -120000000000"},
		{"same precision copies", Second, Second, "m f=1 2\n", "m f=1 2\n"},
		{"keeps other bytes", Hour, Second, "# 5\n\nm,t=a\\ b s=\"x 1\" 1 \nm f=1 0001\n",
			"# 5\n\nm,t=a\\ b s=\"x 1\" 3600 \nm f=1 3600\n"},
		{"CR makes a bad timestamp", Hour, Second, "m f=1 1\r\n", "m f=1 1\r\n"},
		{"no timestamp unchanged", Hour, Second, "m f=1\nm f=1 ", "m f=1\nm f=1 "},
		{"bad timestamp unchanged", Hour, Second, "m f=1 1x\nm f=1 -\nm f=1 99999999999999999999\n",
			"m f=1 1x\nm f=1 -\nm f=1 99999999999999999999\n"},
		{"newline in string", Hour, Millisecond, "m s=\"a\n1\" 1\n", "m s=\"a\n1\" 3600000\n"},
		{"only the timestamp token", Minute, Second, "m f=1 1 2\n", "m f=1 60 2\n"},
		{"empty", Hour, Second, "", ""},
	}
	for _, tc := range cases {
		got, err := Rescale([]byte("pre:"), []byte(tc.in), tc.from, tc.to)
		if err != nil || string(got) != "pre:"+tc.want {
			t.Errorf("%s: Rescale = %q, %v; want %q", tc.name, got, err, "pre:"+tc.want)
		}
	}
}

func TestRescaleErrors(t *testing.T) {
	if _, err := Rescale(nil, []byte("m f=1 1"), Second, Hour); err == nil {
		t.Error("rescaling to a coarser precision must fail")
	}
	if _, err := Rescale(nil, []byte("m f=1 1"), Precision(7), Second); err == nil {
		t.Error("an invalid precision must fail")
	}
	dst := []byte("keep")
	body := []byte("m f=1 1\n  m f=2 9223372036854775\n")
	out, err := Rescale(dst, body, Hour, Second)
	want := `unable to parse 'm f=2 9223372036854775': time outside range -9223372036854775806 - 9223372036854775806`
	if err == nil || err.Error() != want || !errors.Is(err, ErrTimeOutOfRange) {
		t.Fatalf("overflow error = %v, want %s", err, want)
	}
	if string(out) != "keep" {
		t.Fatalf("dst after error = %q", out)
	}
	// The largest values that still fit are rescaled exactly.
	out, err = Rescale(nil, []byte("m f=1 2562047788015215\nm f=1 -2562047788015215"), Hour, Second)
	if err != nil || !strings.Contains(string(out), " 9223372036854774000\n") || !strings.HasSuffix(string(out), " -9223372036854774000") {
		t.Fatalf("edge of range: %q %v", out, err)
	}
	if _, err := Rescale(nil, []byte("m f=1 -2562047788015216"), Hour, Second); err == nil {
		t.Fatal("one more hour must overflow")
	}
}
