package replica

import (
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock that tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newBarAt(tty bool, c *fakeClock) (*Bar, *strings.Builder) {
	var w strings.Builder
	b := NewBar(&w, tty)
	b.now = c.now
	return b, &w
}

func TestBarPlainLines(t *testing.T) {
	c := &fakeClock{time.Unix(1000, 0)}
	b, w := newBarAt(false, c)
	b.Start("copy", 1000)
	c.add(time.Second)
	b.Add(100) // within 5 s of the last line: no line
	c.add(4 * time.Second)
	b.Add(150) // 250 points in 5 s: 50 points/s, 750 left: 15 s
	b.Finish()
	want := "resync copy: 0.0% (0 of 1000 points), 0 points/s, ETA ?\n" +
		"resync copy: 25.0% (250 of 1000 points), 50 points/s, ETA 15s\n" +
		"resync copy: 25.0% (250 of 1000 points), 50 points/s, ETA 0s\n"
	if w.String() != want {
		t.Errorf("have\n%s\nwant\n%s", w.String(), want)
	}
}

func TestBarTerminal(t *testing.T) {
	c := &fakeClock{time.Unix(1000, 0)}
	b, w := newBarAt(true, c)
	b.Start("copy", 200)
	c.add(2 * time.Second)
	b.Add(100)
	lines := strings.Split(w.String(), "\r\x1b[K")
	last := lines[len(lines)-1]
	want := "copy [==============>               ]  50.0%  100/200 points  50 points/s  ETA 2s"
	if last != want {
		t.Errorf("have %q\nwant %q", last, want)
	}
	c.add(time.Second)
	b.Add(150) // more than the estimate: the total grows
	b.Finish()
	if !strings.HasSuffix(w.String(), "[==============================] 100.0%  250/250 points  83 points/s  ETA 0s\n") {
		t.Errorf("final line: %q", w.String())
	}
}
