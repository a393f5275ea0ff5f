// Package status serves influxgate's status page for people: one HTML page
// embedded in the binary (no external assets, no build step) at / and
// /status, which polls /status.json and draws each backend's state,
// backlog and delivery rate with small charts of the last minutes.
//
// History is kept here, server-side, in a ring of samples taken every
// second, rather than in the page's JavaScript: a page opened during an
// incident then shows the minutes that led to it at once, every viewer sees
// the same curves, and the page stays a dumb renderer. The ring costs a few
// tens of kilobytes per backend.
package status

import (
	"context"
	"sync"
	"time"

	"github.com/influxgate/influxgate/internal/relay"
)

// Source is one listener as the status page reads it; *relay.Relay is one.
type Source interface {
	Stats() relay.Stats
	Ready() error
}

// Options configure a Page.
type Options struct {
	// Version is influxgate's version, shown in the header.
	Version string
	// Sources returns the listeners. It is called at every sample and
	// request, so that listeners added by a config reload appear.
	Sources func() []Source
	// AcceptedPoints returns the points answered 2xx since start, for the
	// write rate (may be nil).
	AcceptedPoints func() uint64
	// Interval between samples (default 1s).
	Interval time.Duration
	// Window is how much history is kept (default 5 minutes).
	Window time.Duration
}

// Page is the status page and its history.
type Page struct {
	opts Options
	now  func() time.Time // time.Now; tests step it

	mu   sync.Mutex
	ring []sample // oldest first once full; see at()
	head int      // index of the next slot to fill
	n    int      // samples held
}

// sample is the counters and gauges taken at one instant; rates are
// computed from neighbouring samples when the history is served.
type sample struct {
	at       time.Time
	accepted uint64
	backends map[key]backendSample
	appended map[string]uint64 // log records appended, by listener
}

type key struct{ listener, backend string }

type backendSample struct {
	backlogRecords uint64
	backlogBytes   int64
	delivered      uint64
}

// New returns a Page; call Run to start sampling.
func New(opts Options) *Page {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Window <= 0 {
		opts.Window = 5 * time.Minute
	}
	if opts.Sources == nil {
		opts.Sources = func() []Source { return nil }
	}
	size := max(2, int(opts.Window/opts.Interval)+1)
	return &Page{opts: opts, now: time.Now, ring: make([]sample, size)}
}

// Run samples every Interval until ctx is done.
func (p *Page) Run(ctx context.Context) {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	p.Sample()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.Sample()
		}
	}
}

// Sample records the current state of every source in the history.
func (p *Page) Sample() {
	s := sample{at: p.now(), backends: map[key]backendSample{}, appended: map[string]uint64{}}
	if p.opts.AcceptedPoints != nil {
		s.accepted = p.opts.AcceptedPoints()
	}
	for _, src := range p.opts.Sources() {
		st := src.Stats()
		s.appended[st.Name] = st.Log.Appends
		for _, b := range st.Backends {
			s.backends[key{st.Name, b.Name}] = backendSample{
				backlogRecords: b.Backlog.Records, backlogBytes: b.Backlog.Bytes, delivered: b.Delivered}
		}
	}
	p.mu.Lock()
	p.ring[p.head] = s
	p.head = (p.head + 1) % len(p.ring)
	p.n = min(p.n+1, len(p.ring))
	p.mu.Unlock()
}

// history returns the samples held, oldest first.
func (p *Page) history() []sample {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]sample, 0, p.n)
	start := (p.head - p.n + len(p.ring)) % len(p.ring)
	for i := range p.n {
		out = append(out, p.ring[(start+i)%len(p.ring)])
	}
	return out
}

// rate is the per-second increase of a counter between two samples; a
// counter that went backwards (a backend removed and re-added by a reload)
// gives no rate rather than a negative one.
func rate(prev, cur uint64, d time.Duration) *float64 {
	if cur < prev || d <= 0 {
		return nil
	}
	return round(float64(cur-prev) / d.Seconds())
}

func round(v float64) *float64 {
	r := float64(int64(v*100+0.5)) / 100
	return &r
}
