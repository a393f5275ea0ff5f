package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// tenRecordsForB writes ten one-point records while b is down, then stops
// influxgate cleanly: they wait in the log for b.
func tenRecordsForB(t *testing.T) (*gate, *testinflux.Server, *testinflux.Server) {
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	b.Stop(t)
	for i := 1; i <= 10; i++ {
		g.mustWrite(t, "db=db", fmt.Sprintf("r,n=%02d v=%di %d\n", i, i, i))
	}
	g.stop()
	return g, a, b
}

// (e) A torn tail (a crash in the middle of an append) loses at most the
// torn record; influxgate starts and says what it cut.
func TestTornTailLosesOnlyTheTornRecord(t *testing.T) {
	t.Parallel()
	g, a, b := tenRecordsForB(t)
	seg := newestSegment(t, filepath.Join(g.cfg.DataDir, "http", "log"))
	st, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(seg, st.Size()-5); err != nil {
		t.Fatal(err)
	}
	g = g.restart()
	b.Restart(t)
	g.waitCaughtUp(t, 30*time.Second)
	if n := b.Count(t, "db", "r"); n != 9 {
		t.Errorf("b holds %d points, want 9 (the torn 10th lost)", n)
	}
	if n := a.Count(t, "db", "r"); n != 10 {
		t.Errorf("a holds %d points, want 10", n)
	}
	if logs := g.logs.String(); !strings.Contains(logs, "torn_bytes=") || strings.Contains(logs, "torn_bytes=0 ") {
		t.Errorf("no report of the torn tail in the log:\n%s", logs)
	}
	// The log keeps working after the repair.
	g.mustWrite(t, "db=db", "r,n=11 v=11i 11\n")
	g.waitCaughtUp(t, 10*time.Second)
	if n := b.Count(t, "db", "r"); n != 10 {
		t.Errorf("after a new write b holds %d points, want 10", n)
	}
}

// (e) A bit flipped inside one record skips that record only.
func TestCorruptRecordIsSkippedAndReported(t *testing.T) {
	t.Parallel()
	g, _, b := tenRecordsForB(t)
	seg := newestSegment(t, filepath.Join(g.cfg.DataDir, "http", "log"))
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(data), "r,n=05 ")
	if i < 0 {
		t.Fatal("record 5 not found in the segment")
	}
	data[i+2] ^= 0x20 // "n" -> "N": the CRC no longer matches
	if err := os.WriteFile(seg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	g = g.restart()
	b.Restart(t)
	g.waitCaughtUp(t, 30*time.Second)
	pts := b.Points(t, "db")
	if len(pts) != 9 {
		t.Fatalf("b holds %d points, want 9: %v", len(pts), pts)
	}
	for _, p := range pts {
		if strings.Contains(p, "n=05") || strings.Contains(p, "N=05") {
			t.Errorf("the damaged record was delivered: %s", p)
		}
	}
	if logs := g.logs.String(); !strings.Contains(logs, "corrupt") {
		t.Errorf("no report of the damaged record:\n%s", logs)
	}
	if _, h := g.health(t); h.Checks[1].Dropped["corrupt"] != 1 {
		t.Errorf("the skipped record is not counted on /health: %v", h.Checks[1].Dropped)
	}
}
