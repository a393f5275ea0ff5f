package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// loadBody renders n load points starting at sequence number first.
func loadBody(first, n int64) string {
	var b strings.Builder
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, "%s,w=0 v=%di %d\n", loadMeasurement, i, loadBase+i)
	}
	return b.String()
}

// waitCursors waits until every cursor file of the listener says at least
// next: the backends' progress is on disk, as after any second of running.
func waitCursors(t testing.TB, dataDir string, next uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dataDir, "http", "cursors", "*.cursor"))
		done := len(files) > 0
		for _, f := range files {
			b, err := os.ReadFile(f)
			fields := strings.Fields(string(b))
			if err != nil || len(fields) != 4 {
				done = false
				continue
			}
			if n, err := strconv.ParseUint(fields[2], 10, 64); err != nil || n < next {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cursors did not reach %d within 20s", next)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A log whose newest segment lost its end (a disk that dropped writes, an
// operator's mistake) while the backends' cursors had already passed the
// lost records: influxgate must still start, report the loss, and deliver
// new writes to every backend (not wait for indexes the log reuses).
func TestFaultTruncatedLogBehindTheCursors(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, loadDB)
	p := newProcGate(t, func(dataDir, addr string) string {
		return nativeConfig(dataDir, addr, "", "", a, b)
	})
	g := p.asGate()
	const records = 30
	for i := int64(0); i < records; i++ {
		g.mustWrite(t, "db="+loadDB, loadBody(i*10, 10))
	}
	g.waitCaughtUp(t, 30*time.Second)
	dataDir := filepath.Join(p.dir, "data")
	waitCursors(t, dataDir, records+1)
	p.kill()
	lost, ok := truncateLog(t, filepath.Join(dataDir, "http", "log"))
	if !ok {
		t.Fatal("too few records in the newest segment")
	}
	p.start()
	g.mustWrite(t, "db="+loadDB, loadBody(1000, 10))
	g.mustWrite(t, "db="+loadDB, loadBody(1010, 10))
	g.waitCaughtUp(t, 30*time.Second)
	for _, s := range []struct {
		name string
		n    int
	}{{"a", a.Count(t, loadDB, loadMeasurement)}, {"b", b.Count(t, loadDB, loadMeasurement)}} {
		// Every point was delivered before the damage, and the 20 new ones after it.
		if want := records*10 + 20; s.n != want {
			t.Errorf("backend %s holds %d points, want %d (%d were in the records cut off after delivery)", s.name, s.n, want, len(lost))
		}
	}
	logText, _ := os.ReadFile(p.log.Name())
	if !strings.Contains(string(logText), "truncated torn tail") {
		t.Error("influxgate did not report the cut records")
	}
}
