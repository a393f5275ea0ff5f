package lineproto

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// refLines splits buf into lines with a literal transliteration of the
// loop in InfluxDB 1.x's ParsePointsWithPrecision and scanLine, kept
// deliberately naive: it is the oracle for the scanner's fast path.
// terminated reports whether the last line ended with a '\n' terminator.
func refLines(buf []byte) (lines [][]byte, terminated bool) {
	pos := 0
	for pos < len(buf) {
		start, i := pos, pos
		quoted, fields := false, false
		equals, commas := 0, 0
		for i < len(buf) {
			if buf[i] == '\\' && i+2 < len(buf) {
				i += 2
				continue
			}
			if buf[i] == ' ' {
				fields = true
			}
			if fields {
				if !quoted && buf[i] == '=' {
					i++
					equals++
					continue
				} else if !quoted && buf[i] == ',' {
					i++
					commas++
					continue
				} else if buf[i] == '"' && equals > commas {
					i++
					quoted = !quoted
					continue
				}
			}
			if buf[i] == '\n' && !quoted {
				break
			}
			i++
		}
		lines = append(lines, buf[start:i])
		terminated = i < len(buf)
		pos = i + 1
	}
	return lines, terminated
}

// addSeeds adds the table-test inputs to a fuzz target's seed corpus.
func addSeeds(f *testing.F, add func(string)) {
	for _, tc := range stampCases {
		add(tc.in)
	}
	for _, tc := range validateCorpus {
		if len(tc.line) < 1000 {
			add(tc.line)
		}
	}
	add("cpu,host=a usage=1 5\n# c\n\ncpu,host=b s=\"x\ny\" \nm f=1\\\n\nm f=\"open\n")
}

func FuzzLines(f *testing.F) {
	addSeeds(f, func(s string) { f.Add([]byte(s)) })
	f.Fuzz(func(t *testing.T, body []byte) {
		var got [][]byte
		Lines(body, func(l []byte) bool { got = append(got, l); return true })
		want, terminated := refLines(body)
		if len(got) != len(want) {
			t.Fatalf("%d lines, reference %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("line %d = %q, reference %q", i, got[i], want[i])
			}
		}
		joined := bytes.Join(got, []byte("\n"))
		if terminated {
			joined = append(joined, '\n')
		}
		if !bytes.Equal(joined, body) {
			t.Fatalf("lines do not rebuild the body")
		}
		if c := Count(body).Lines; c != countPoints(want) {
			t.Fatalf("Count = %d, reference %d", c, countPoints(want))
		}
	})
}

func countPoints(lines [][]byte) int {
	n := 0
	for _, l := range lines {
		if IsPoint(l) {
			n++
		}
	}
	return n
}

func FuzzStamp(f *testing.F) {
	addSeeds(f, func(s string) { f.Add([]byte(s), int64(1700000000)) })
	f.Fuzz(func(t *testing.T, body []byte, ts int64) {
		if ts < MinNanoTime || ts > MaxNanoTime {
			ts %= 1e18 // keep the stamp itself valid so validity can be compared
		}
		out, st := Stamp(nil, body, ts)
		stamp := " " + strconv.FormatInt(ts, 10)
		in, inTerm := refLines(body)
		got, outTerm := refLines(out)
		if len(in) != len(got) || inTerm != outTerm {
			t.Fatalf("stamping changed the lines: %d -> %d (terminated %v -> %v)\n%q\n%q", len(in), len(got), inTerm, outTerm, body, out)
		}
		if st.Lines != countPoints(in) || Count(out).Lines != st.Lines || st.Bytes != len(out) {
			t.Fatalf("stats %+v; %d points in, %d out, %d bytes", st, countPoints(in), Count(out).Lines, len(out))
		}
		if st.Stamped == 0 && len(body) > 0 && &out[0] != &body[0] {
			t.Fatalf("nothing stamped but the body was copied")
		}
		stamped, unstampable := 0, 0
		for i, l := range in {
			o := got[i]
			switch {
			case bytes.Equal(o, l):
			case string(o) == string(l)+stamp:
				stamped++
			case len(l) > 0 && l[len(l)-1] == '\n' && string(o) == string(l[:len(l)-1])+stamp+"\n":
				stamped++ // before the '\n' that InfluxDB strips from a line
			default:
				t.Fatalf("line %d changed beyond a stamp: %q -> %q", i, l, o)
			}
			inErr, outErr := ValidateLine(l), ValidateLine(o)
			if (inErr == nil) != (outErr == nil) {
				t.Fatalf("stamping changed validity of %q: %v -> %v (%q)", l, inErr, outErr, o)
			}
			if !IsPoint(o) || outErr != nil {
				continue
			}
			tok, err := checkPoint(stripLine(o), Nanosecond)
			if err == nil && len(tok) == 0 && oddTrailingBackslashes(stripLine(o)) {
				unstampable++
				continue
			}
			if err != nil || len(tok) == 0 {
				t.Fatalf("valid output line %q has no timestamp (%v)", o, err)
			}
			if !bytes.Equal(o, l) && string(tok) != stamp[1:] {
				t.Fatalf("stamped line %q parses with timestamp %q", o, tok)
			}
		}
		if stamped != st.Stamped || unstampable > st.Unstampable {
			t.Fatalf("%d lines stamped, %d valid unstampable; stats %+v", stamped, unstampable, st)
		}
	})
}

// stripLine prepares a line as ValidateLine does: without leading
// whitespace and one trailing '\n'.
func stripLine(l []byte) []byte {
	l = l[skipWS(l, 0):]
	return bytes.TrimSuffix(l, []byte("\n"))
}

func FuzzPacker(f *testing.F) {
	addSeeds(f, func(s string) { f.Add([]byte(s), uint16(16)) })
	f.Add([]byte("a f=1\n"+strings.Repeat("b", 300)+"\nc f=3"), uint16(64))
	f.Fuzz(func(t *testing.T, body []byte, mtu uint16) {
		p := NewPacker(1 + int(mtu)%256)
		var units [][]byte // every kept line with its '\n'
		dropped := 0
		lines, terminated := refLines(body)
		for i, l := range lines {
			if !IsPoint(l) {
				continue
			}
			if len(l)+1 > MaxDatagram {
				dropped++
				continue
			}
			unit := append([]byte(nil), l...)
			if !(i == len(lines)-1 && !terminated && l[len(l)-1] == '\n') {
				unit = append(unit, '\n')
			}
			// Packing must not change what InfluxDB makes of the line.
			if ul, _ := refLines(unit); len(ul) != 1 || (ValidateLine(ul[0]) == nil) != (ValidateLine(l) == nil) {
				t.Fatalf("line %q packed as %q reads differently", l, unit)
			}
			units = append(units, unit)
		}
		next := 0
		gotDropped := p.Pack(body, func(d []byte) {
			n := 0
			for rest := d; len(rest) > 0; n++ {
				if next >= len(units) || !bytes.HasPrefix(rest, units[next]) {
					t.Fatalf("datagram %q does not continue with the next whole line", d)
				}
				rest = rest[len(units[next]):]
				next++
			}
			if n == 0 || (n > 1 && len(d) > p.MTU()) || len(d) > MaxDatagram {
				t.Fatalf("datagram of %d bytes with %d lines breaks MTU %d", len(d), n, p.MTU())
			}
		})
		if next != len(units) || gotDropped != dropped {
			t.Fatalf("sent %d of %d lines, dropped %d (want %d)", next, len(units), gotDropped, dropped)
		}
	})
}

func FuzzValidateLine(f *testing.F) {
	addSeeds(f, func(s string) { f.Add([]byte(s)) })
	f.Fuzz(func(t *testing.T, line []byte) {
		err := ValidateLine(line)
		if err != nil && !strings.HasPrefix(err.Error(), "unable to parse '") {
			t.Fatalf("error %q is not worded like InfluxDB's", err)
		}
		for _, p := range []Precision{Microsecond, Second, Hour} {
			_ = ValidateLinePrecision(line, p)
		}
		// Stamping keeps a valid line valid, when it is one line (not a
		// body that Lines would split).
		if lines, _ := refLines(line); err == nil && IsPoint(line) && len(lines) == 1 && len(lines[0]) == len(line) {
			out, _ := Stamp(nil, line, 1)
			if err := ValidateLine(out); err != nil {
				t.Fatalf("valid line %q invalid once stamped: %v", line, err)
			}
		}
	})
}

func FuzzRescale(f *testing.F) {
	addSeeds(f, func(s string) { f.Add([]byte(s), uint8(Hour), uint8(Second)) })
	f.Fuzz(func(t *testing.T, body []byte, from, to uint8) {
		out, err := Rescale(nil, body, Precision(from%7), Precision(to%7))
		if err != nil {
			return
		}
		in, _ := refLines(body)
		got, _ := refLines(out)
		if len(in) != len(got) || Count(out).Lines != Count(body).Lines {
			t.Fatalf("rescaling changed the lines: %q -> %q", body, out)
		}
	})
}

// FuzzStampInfo checks the shortcut stampInfo takes against classify on
// every line of the input, plain or not, and that NeedsStamp agrees with
// Stamp.
func FuzzStampInfo(f *testing.F) {
	addSeeds(f, func(s string) { f.Add([]byte(s)) })
	for _, s := range []string{"m f=1", "m f=1 1", "m  f=1", "m \tf=1 2", "m f=1\t2", "m\tf=1 2",
		"m f=1 2 3", "m,t=a f=1,g=2 3", "m f=1\x00 2", "m f=1 \x00", "#m f=1", "m", "m ", " m f=1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		plainBody := isPlain(body)
		for i := 0; i < len(body); {
			end, plain := lineEnd(body, i, plainBody)
			line := body[i:end]
			got, want := stampInfo(line, plain), classify(line, plain)
			if got.kind != want.kind || got.stamp != want.stamp || got.lone != want.lone || got.at != want.at {
				t.Fatalf("line %q (plain %v): stampInfo %+v, classify %+v", line, plain, got, want)
			}
			i = end + 1
		}
		st, needs := NeedsStamp(body)
		out, full := Stamp(nil, body, 1700000000)
		if needs != (full.Stamped > 0) {
			t.Fatalf("NeedsStamp %v, Stamp stamped %d lines", needs, full.Stamped)
		}
		if !needs && (st != full || len(body) > 0 && &out[0] != &body[0]) {
			t.Fatalf("NeedsStamp stats %+v, Stamp %+v", st, full)
		}
	})
}
