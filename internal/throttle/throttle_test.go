package throttle

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestOneLinePerKeyAndPeriodWithTheCountHeldBack(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), 10*time.Second)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }

	l.Warn("a", "first")
	l.Warn("a", "held")
	l.Warn("a", "held")
	l.Warn("b", "other key")
	now = now.Add(10 * time.Second)
	l.Warn("a", "after the period")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), buf.String())
	}
	if strings.Contains(lines[0], "suppressed_since_last") {
		t.Errorf("first line counts suppressed lines: %s", lines[0])
	}
	if !strings.Contains(lines[1], "other key") {
		t.Errorf("a second key was held back: %s", lines[1])
	}
	if !strings.Contains(lines[2], "after the period") || !strings.Contains(lines[2], "suppressed_since_last=2") {
		t.Errorf("line after the period = %s, want it with suppressed_since_last=2", lines[2])
	}
}
