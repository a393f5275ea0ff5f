package shard

import (
	"bytes"
	"context"
	"fmt"
	"math/bits"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
)

// Replicas is what the sharding layer needs of one shard's replica set:
// *relay.Relay.
type Replicas interface {
	Append(rec *record.Record) (relay.Ticket, error)
	Await(ctx context.Context, t relay.Ticket, c relay.Consistency) relay.Answer
	Ready() error
}

// Shard is one replica set of a sharded listener.
type Shard struct {
	Name string
	// Retired shards own no keys; they serve what they hold until a
	// rebalance moved it.
	Retired  bool
	Replicas Replicas
}

// Set is the sharding layer of one listener.
type Set struct {
	shards []*Shard
	byName map[string]int
	byTag  bool
	tag    []byte
	// route is the current placement, with the rebalance in progress if
	// any; replaced whole when the rebalance state changes.
	route atomic.Pointer[Route]
}

// NewSet builds the layer over shards (in config order) for shard-key
// ("measurement" or "tag:K") with the given routing.
func NewSet(shardKey string, shards []*Shard, route *Route) (*Set, error) {
	if len(shards) == 0 || len(shards) > 64 {
		return nil, fmt.Errorf("want 1 to 64 shards, got %d", len(shards))
	}
	s := &Set{shards: shards, byName: make(map[string]int, len(shards))}
	switch {
	case shardKey == "measurement":
	case len(shardKey) > 4 && shardKey[:4] == "tag:":
		s.byTag, s.tag = true, []byte(shardKey[4:])
	default:
		return nil, fmt.Errorf("shard-key %q: want \"measurement\" or \"tag:NAME\"", shardKey)
	}
	for i, sh := range shards {
		s.byName[sh.Name] = i
	}
	if err := s.SetRoute(route); err != nil {
		return nil, err
	}
	return s, nil
}

// SetRoute puts a new routing in force (a rebalance started, progressed or
// ended). Every shard it names must be in the set.
func (s *Set) SetRoute(r *Route) error {
	for _, n := range r.names() {
		if _, ok := s.byName[n]; !ok {
			return fmt.Errorf("shard %q is named by the placement but not configured", n)
		}
	}
	s.route.Store(r)
	return nil
}

// Route returns the routing in force.
func (s *Set) Route() *Route { return s.route.Load() }

// Shards returns the shards in config order.
func (s *Set) Shards() []*Shard { return s.shards }

// Shard returns the shard named name, or nil.
func (s *Set) Shard(name string) *Shard {
	if i, ok := s.byName[name]; ok {
		return s.shards[i]
	}
	return nil
}

// ByTag returns the shard tag K for shard-key = "tag:K", else "".
func (s *Set) ByTag() string { return string(s.tag) }

// Key returns the placement key of a point named by database,
// measurement and (for tag sharding) the shard tag's value.
func (s *Set) Key(db, measurement, tagValue string) []byte {
	return AppendKey(nil, db, []byte(measurement), []byte(tagValue), s.byTag)
}

// lineKey appends the placement key of a point line to dst.
func (s *Set) lineKey(dst []byte, db string, line []byte) []byte {
	m, tags := lineproto.Key(line)
	m = lineproto.UnescapeMeasurement(m)
	var v []byte
	if s.byTag {
		v, _ = lineproto.TagValue(tags, s.tag)
	}
	return AppendKey(dst, db, m, v, s.byTag)
}

// targets is the set of shards (bits of positions) a key's points go to:
// its owner, and while a rebalance moves the key, its old owner too, so
// that the shard serving its reads until the move completes has them.
func (s *Set) targets(r *Route, key []byte) uint64 {
	owner, old := r.writeOwners(key)
	set := uint64(1) << s.byName[owner]
	if old != "" {
		set |= 1 << s.byName[old]
	}
	return set
}

// lineRef is one point line of a write and the shards it goes to.
type lineRef struct {
	start, end int
	to         uint64
}

var lineRefs = sync.Pool{New: func() any { s := make([]lineRef, 0, 256); return &s }}

// Write splits rec by owner, appends every part to its shard's log before
// it waits for any, and combines the answers (combine has the rules). rec
// was stamped already: each line keeps its timestamp whatever shard it
// goes to, and no line is lost or doubled by the split.
func (s *Set) Write(ctx context.Context, rec *record.Record, c relay.Consistency) relay.Answer {
	parts, err := s.Split(rec)
	if err != nil {
		return relay.ErrorAnswer(http.StatusBadRequest, "%v", err)
	}
	return s.WriteParts(ctx, parts, c)
}

// Part is the share of one write that goes to one shard.
type Part struct {
	Shard *Shard
	Rec   record.Record
	// encoded is Rec's encoding when Split built it in place (Rec.Body is
	// then its tail); nil when Rec is the client's whole record.
	encoded []byte
}

// encodedAppender is a replica set that takes a record with its encoding
// (*relay.Relay), so that a part's body is not copied once more.
type encodedAppender interface {
	AppendEncoded(rec *record.Record, payload []byte) (relay.Ticket, error)
}

// Split divides rec into one part per shard that owns some of its lines,
// keeping the lines' order within each part. A write whose lines all go to
// one shard is not copied.
func (s *Set) Split(rec *record.Record) ([]Part, error) {
	r := s.route.Load()
	refsp := lineRefs.Get().(*[]lineRef)
	defer lineRefs.Put(refsp)
	refs := (*refsp)[:0]
	var key, lastKey []byte
	var lastTo, union uint64
	var sizes, counts [64]int // bytes and lines per shard position, to size the parts once
	body := rec.Body
	lineproto.Lines(body, func(line []byte) bool {
		if !lineproto.IsPoint(line) {
			return true
		}
		start := cap(body) - cap(line)
		key = s.lineKey(key[:0], rec.DB, line)
		to := lastTo
		if lastTo == 0 || !bytes.Equal(key, lastKey) {
			to = s.targets(r, key)
			lastKey, lastTo = append(lastKey[:0], key...), to
		}
		refs = append(refs, lineRef{start: start, end: start + len(line), to: to})
		union |= to
		for t := to; t != 0; t &= t - 1 {
			sizes[bits.TrailingZeros64(t)] += len(line) + 1
			counts[bits.TrailingZeros64(t)]++
		}
		return true
	})
	*refsp = refs
	if union == 0 {
		return nil, nil
	}
	if union&(union-1) == 0 {
		// One shard: the whole record, as it is.
		return []Part{{Shard: s.shards[bits.TrailingZeros64(union)], Rec: *rec}}, nil
	}
	var parts []Part
	openEnd := rec.Flags&record.FlagOpenEnd != 0
	for i, sh := range s.shards {
		bit := uint64(1) << i
		if union&bit == 0 {
			continue
		}
		// The part's header needs its flags and line count, known
		// before its lines are copied: the body is built in place after
		// the header, and the log takes that encoding as it is.
		p := Part{Shard: sh, Rec: *rec}
		p.Rec.Body, p.Rec.Lines = nil, uint32(counts[i])
		p.Rec.Flags &^= record.FlagOpenEnd
		if openEnd && refs[len(refs)-1].to&bit != 0 {
			// The body's last line runs on into what follows; it still
			// ends this part.
			p.Rec.Flags |= record.FlagOpenEnd
		}
		b := p.Rec.AppendHeader(make([]byte, 0, p.Rec.EncodedSize()+sizes[i]))
		h := len(b)
		for _, ref := range refs {
			if ref.to&bit == 0 {
				continue
			}
			b = append(b, body[ref.start:ref.end]...)
			b = append(b, '\n')
		}
		p.Rec.Body, p.encoded = b[h:len(b):len(b)], b
		parts = append(parts, p)
	}
	return parts, nil
}

// WriteParts appends every part to its shard's log, then awaits each and
// combines the answers. Before it appends anything it asks every target
// shard whether it takes writes, so that a full backlog or a failing log
// on one shard refuses the whole write rather than half of it.
func (s *Set) WriteParts(ctx context.Context, parts []Part, c relay.Consistency) relay.Answer {
	if len(parts) == 0 {
		return relay.Answer{Status: http.StatusNoContent}
	}
	for _, p := range parts {
		if err := p.Shard.Replicas.Ready(); err != nil {
			return relay.ErrorAnswer(http.StatusServiceUnavailable, "shard %s: %v", p.Shard.Name, err)
		}
	}
	answers := make([]relay.Answer, len(parts))
	tickets := make([]relay.Ticket, len(parts))
	appended := make([]bool, len(parts))
	for i := range parts {
		var t relay.Ticket
		var err error
		if ea, ok := parts[i].Shard.Replicas.(encodedAppender); ok && parts[i].encoded != nil {
			t, err = ea.AppendEncoded(&parts[i].Rec, parts[i].encoded)
		} else {
			t, err = parts[i].Shard.Replicas.Append(&parts[i].Rec)
		}
		if err != nil {
			answers[i] = relay.AnswerOf(err)
			continue
		}
		tickets[i], appended[i] = t, true
	}
	for i := range parts {
		if appended[i] {
			answers[i] = parts[i].Shard.Replicas.Await(ctx, tickets[i], c)
		}
	}
	return Combine(answers)
}
