package backfill

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Range is the span of point times (Unix ns, both inclusive) written to a
// database and retention policy ("" = the database's default) that a
// backend received late.
type Range struct {
	DB   string `json:"db"`
	RP   string `json:"rp,omitempty"`
	From int64  `json:"from"`
	To   int64  `json:"to"`
}

// CQRef names a continuous query and when something happened to it.
type CQRef struct {
	DB   string `json:"db"`
	Name string `json:"name"`
	At   int64  `json:"at"` // Unix ns
}

// Spec is the body of a backfill record: what to recompute on one backend.
type Spec struct {
	Ranges []Range `json:"ranges"`
	// Created lists continuous queries created while the backend was
	// behind, with the time influxgate accepted the CREATE: the replicas
	// that were up ran them from then on only (InfluxDB does not backfill
	// a new continuous query), so intervals before it are not recomputed.
	Created []CQRef `json:"created,omitempty"`
	// Dropping, when set, restricts the backfill to that continuous query
	// (every one of its database when Name is empty: a DROP DATABASE), for
	// intervals that ended before the DROP was accepted: it runs just
	// before the DROP reaches the backend, while the query still exists.
	Dropping *CQRef `json:"dropping,omitempty"`
}

// Encode returns the record body of s.
func (s Spec) Encode() []byte {
	b, _ := json.Marshal(s)
	return b
}

// Decode parses a record body.
func Decode(b []byte) (Spec, error) {
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("backfill record: %w", err)
	}
	return s, nil
}

// Empty reports whether there is nothing to recompute.
func (s Spec) Empty() bool { return len(s.Ranges) == 0 }

// createdAt returns when the continuous query db.name was created while
// the backend was behind, or 0.
func (s Spec) createdAt(db, name string) int64 {
	i := slices.IndexFunc(s.Created, func(c CQRef) bool { return c.DB == db && c.Name == name })
	if i < 0 {
		return 0
	}
	return s.Created[i].At
}
