package replica

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress receives a resync's progress. Calls may come from several
// goroutines.
type Progress interface {
	// Start begins a phase ("copy", "re-copy") that writes an estimated
	// total of points.
	Start(phase string, total int64)
	// Add counts points written to the target.
	Add(points int64)
	// BucketDone reports a bucket copied completely.
	BucketDone(b Bucket)
	// Finish ends the phase.
	Finish()
}

// Bucket names one time bucket of one measurement.
type Bucket struct {
	Database, RetentionPolicy, Measurement string
	Start                                  time.Time
}

// String writes the bucket as db.rp.measurement@start.
func (b Bucket) String() string {
	return fmt.Sprintf("%s.%s.%s@%s", b.Database, b.RetentionPolicy, b.Measurement, b.Start.UTC().Format(time.RFC3339))
}

// Bar shows progress on a writer: on a terminal, one line redrawn in place
// with a bar, the percentage, the rate and the time left; otherwise a plain
// line every few seconds, fit for logs.
type Bar struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	every time.Duration

	// what and unit name the work in plain lines and the bar: "resync"
	// and "points" unless Named says otherwise.
	what, unit string

	mu          sync.Mutex
	phase       string
	total, done int64
	begin, last time.Time
}

// NewBar returns a Bar writing to w; terminal selects the redrawn bar.
func NewBar(w io.Writer, terminal bool) *Bar {
	b := &Bar{w: w, tty: terminal, now: time.Now, every: 5 * time.Second, what: "resync", unit: "points"}
	if terminal {
		b.every = 200 * time.Millisecond
	}
	return b
}

// Named sets the name of the work (default "resync") and of the unit
// counted (default "points") and returns b.
func (b *Bar) Named(what, unit string) *Bar {
	b.what, b.unit = what, unit
	return b
}

// Start implements Progress.
func (b *Bar) Start(phase string, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.phase, b.total, b.done = phase, total, 0
	b.begin = b.now()
	b.last = b.begin
	b.draw(false)
}

// Add implements Progress.
func (b *Bar) Add(points int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += points
	if now := b.now(); now.Sub(b.last) >= b.every {
		b.last = now
		b.draw(false)
	}
}

// BucketDone implements Progress.
func (b *Bar) BucketDone(Bucket) {}

// Finish implements Progress.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draw(true)
}

func (b *Bar) draw(final bool) {
	total := max(b.total, b.done) // the total is an estimate
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(b.done) / float64(total)
	}
	elapsed := b.now().Sub(b.begin)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(b.done) / elapsed.Seconds()
	}
	eta := "?"
	switch {
	case final || b.done >= total:
		eta = "0s"
	case rate > 0:
		eta = time.Duration(float64(total-b.done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	if !b.tty {
		fmt.Fprintf(b.w, "%s %s: %.1f%% (%d of %d %s), %.0f %s/s, ETA %s\n", b.what, b.phase, pct, b.done, total, b.unit, rate, b.unit, eta)
		return
	}
	const width = 30
	fill := int(pct / 100 * width)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	if fill > 0 && fill < width {
		bar = bar[:fill-1] + ">" + bar[fill:]
	}
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprintf(b.w, "\r\x1b[K%s [%s] %5.1f%%  %d/%d %s  %.0f %s/s  ETA %s%s", b.phase, bar, pct, b.done, total, b.unit, rate, b.unit, eta, end)
}
