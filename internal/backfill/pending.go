package backfill

import (
	"cmp"
	"slices"
	"strings"
	"sync"

	"github.com/influxdata/influxql"

	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/record"
)

// Pending accumulates what one backend received late, until a backfill
// record is logged for it. It is safe for concurrent use: the delivery
// worker adds, the housekeeper saves.
type Pending struct {
	mu      sync.Mutex
	ranges  map[[2]string]*Range
	created []CQRef
	dirty   bool
}

// NewPending returns an empty accumulator.
func NewPending() *Pending { return &Pending{ranges: map[[2]string]*Range{}} }

// AddWrite notes the point times of a write record the backend received
// late.
func (p *Pending) AddWrite(rec *record.Record) {
	lo, hi, n := lineproto.TimeRange(rec.Body)
	if n == 0 {
		return
	}
	scale := lineproto.Precision(rec.Precision).Duration().Nanoseconds()
	lo, hi = saturatingMul(lo, scale), saturatingMul(hi, scale)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addLocked(rec.DB, rec.RP, lo, hi)
}

// AddSpan notes a span of point times (Unix ns) for a database and
// retention policy directly: the recent past of a backend found down.
func (p *Pending) AddSpan(db, rp string, from, to int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addLocked(db, rp, from, to)
}

func (p *Pending) addLocked(db, rp string, lo, hi int64) {
	k := [2]string{db, rp}
	r := p.ranges[k]
	if r == nil {
		p.ranges[k] = &Range{DB: db, RP: rp, From: lo, To: hi}
	} else {
		r.From, r.To = min(r.From, lo), max(r.To, hi)
	}
	p.dirty = true
}

// AddStatement notes a schema change the backend received late: a
// CREATE CONTINUOUS QUERY is remembered with the time it was accepted.
func (p *Pending) AddStatement(rec *record.Record) {
	q, err := influxql.ParseQuery(string(rec.Body))
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range q.Statements {
		if cq, ok := st.(*influxql.CreateContinuousQueryStatement); ok {
			p.created = append(p.created, CQRef{DB: cq.Database, Name: cq.Name, At: rec.Received})
			p.dirty = true
		}
	}
}

// Empty reports whether nothing was received late.
func (p *Pending) Empty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ranges) == 0
}

// Spec returns what has to be recomputed, in a stable order.
func (p *Pending) Spec() Spec {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.specLocked()
}

func (p *Pending) specLocked() Spec {
	var s Spec
	for _, r := range p.ranges {
		s.Ranges = append(s.Ranges, *r)
	}
	slices.SortFunc(s.Ranges, func(a, b Range) int {
		return cmp.Or(strings.Compare(a.DB, b.DB), strings.Compare(a.RP, b.RP))
	})
	s.Created = slices.Clone(p.created)
	return s
}

// Reset forgets everything (a backfill record now carries it).
func (p *Pending) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ranges) > 0 || len(p.created) > 0 {
		p.dirty = true
	}
	p.ranges, p.created = map[[2]string]*Range{}, nil
}

// Changed returns the accumulator's encoding (Spec's) when it changed
// since the last call, nil when it is empty now; changed is false when
// there is nothing new to store. A caller that fails to store it calls
// Touch, so that the next call returns it again. The relay stores it
// before it stores the cursor past the records noted, so a crash never
// loses a range whose records will not be replayed again.
func (p *Pending) Changed() (data []byte, changed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.dirty {
		return nil, false
	}
	p.dirty = false
	if len(p.ranges) == 0 && len(p.created) == 0 {
		return nil, true
	}
	return p.specLocked().Encode(), true
}

// Touch marks the accumulator changed.
func (p *Pending) Touch() {
	p.mu.Lock()
	p.dirty = true
	p.mu.Unlock()
}

// Restore replaces the accumulator with what Changed returned (nil: empty)
// and marks it unchanged: it is what is stored.
func (p *Pending) Restore(data []byte) error {
	ranges, created := map[[2]string]*Range{}, []CQRef(nil)
	if len(data) > 0 {
		s, err := Decode(data)
		if err != nil {
			return err
		}
		for _, r := range s.Ranges {
			ranges[[2]string{r.DB, r.RP}] = &r
		}
		created = s.Created
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ranges, p.created, p.dirty = ranges, created, false
	return nil
}

func saturatingMul(v, m int64) int64 {
	if m == 1 || v == 0 {
		return v
	}
	r := v * m
	if r/m != v {
		if (v < 0) != (m < 0) {
			return -1 << 63
		}
		return 1<<63 - 1
	}
	return r
}
