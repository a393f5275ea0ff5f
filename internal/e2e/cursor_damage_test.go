package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A damaged cursor file must make its backend replay from the oldest
// record still in the log, never skip its backlog (issue 12, defect 1; G1).
func TestDamagedCursorFileLosesNothing(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	cfg := newConfig(t, a, b)
	g := startGate(t, cfg)
	b.Stop(t)
	var want []string
	for i := 0; i < 20; i++ {
		var body strings.Builder
		for j := 0; j < 10; j++ {
			n := i*10 + j
			fmt.Fprintf(&body, "m v=%d %d\n", n, 1700000000000000000+int64(n))
		}
		g.mustWrite(t, "db=db", body.String())
	}
	for n := 0; n < 200; n++ {
		want = append(want, fmt.Sprintf("m v=%d", n))
	}
	g.stop()

	cursor := filepath.Join(cfg.ListenerDir("http"), "cursors", "b.cursor")
	if _, err := os.Stat(cursor); err != nil {
		t.Fatalf("no cursor file for b where the test expects it: %v", err)
	}
	if err := os.WriteFile(cursor, []byte("influxgate-cursor 1 9\x0099 0badc0de\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g = g.restart()
	_, h := g.health(t)
	var note string
	for _, c := range h.Checks {
		if c.Name == "b" {
			note = c.CursorNote + " " + c.Message
		}
	}
	if !strings.Contains(note, "damaged") {
		t.Errorf("/health says nothing of b's damaged cursor: %q", note)
	}
	if !strings.Contains(g.logs.String(), "cursor file damaged") {
		t.Errorf("no error logged for the damaged cursor")
	}
	b.Restart(t)
	g.waitCaughtUp(t, 30*time.Second)
	if n := b.Count(t, "db", "m"); n != 200 {
		t.Fatalf("b holds %d of the 200 points written while it was down", n)
	}
	identical(t, "db", a, b)
}
