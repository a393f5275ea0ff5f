package bench

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/lineproto"
)

func osGetpid() int { return os.Getpid() }

var start = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func TestGenerateBodies(t *testing.T) {
	bodies, err := GenerateBodies(3, 1000, false, start)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	total := 0
	for _, b := range bodies {
		if b.Lines != 1000 || b.Raw != len(b.Data) {
			t.Errorf("body: %d lines, raw %d, len %d", b.Lines, b.Raw, len(b.Data))
		}
		if got := lineproto.Count(b.Data).Lines; got != b.Lines {
			t.Errorf("body has %d points, says %d", got, b.Lines)
		}
		for line := range strings.Lines(string(b.Data)) {
			line = strings.TrimSuffix(line, "\n")
			if err := lineproto.ValidateLine([]byte(line)); err != nil {
				t.Fatalf("invalid line %q: %v", line, err)
			}
			ts := line[strings.LastIndexByte(line, ' ')+1:]
			if len(ts) != tsDigits || seen[ts] {
				t.Fatalf("timestamp %q too short or repeated", ts)
			}
			seen[ts] = true
			total += len(line) + 1
		}
	}
	// The lines should look like Telegraf's: about 100 bytes each (these average 115).
	if avg := total / 3000; avg < 80 || avg > 130 {
		t.Errorf("average line is %d bytes", avg)
	}
}

func TestGenerateBodiesGzip(t *testing.T) {
	plain, err := GenerateBodies(2, 100, false, start)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := GenerateBodies(2, 100, true, start)
	if err != nil {
		t.Fatal(err)
	}
	for i := range gz {
		zr, err := gzip.NewReader(bytes.NewReader(gz[i].Data))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plain[i].Data) || gz[i].Raw != len(got) {
			t.Errorf("body %d: gunzipped differs from the plain body", i)
		}
		if len(gz[i].Data) >= len(got) {
			t.Errorf("body %d did not compress: %d >= %d", i, len(gz[i].Data), len(got))
		}
	}
}

func TestGenerateBodiesRejects(t *testing.T) {
	if _, err := GenerateBodies(0, 10, false, start); err == nil {
		t.Errorf("zero bodies accepted")
	}
	if _, err := GenerateBodies(1, 10, false, time.Unix(1, 0)); err == nil {
		t.Errorf("a start with short timestamps accepted")
	}
}

func TestRestamp(t *testing.T) {
	bodies, err := GenerateBodies(1, 3, false, start)
	if err != nil {
		t.Fatal(err)
	}
	orig := bodies[0]
	c := orig.Clone()
	c.Restamp(1_700_000_000_000_000_000)
	lines := strings.Split(strings.TrimSuffix(string(c.Data), "\n"), "\n")
	for i, line := range lines {
		want := []string{"1700000000000000000", "1700000000000000001", "1700000000000000002"}[i]
		if !strings.HasSuffix(line, " "+want) {
			t.Errorf("line %d = %q, want timestamp %s", i, line, want)
		}
		origLine := strings.Split(string(orig.Data), "\n")[i]
		if line[:len(line)-tsDigits] != origLine[:len(origLine)-tsDigits] {
			t.Errorf("line %d changed outside its timestamp", i)
		}
	}
	if bytes.Equal(orig.Data, c.Data) {
		t.Errorf("Restamp of a clone changed nothing or changed the original")
	}
}
