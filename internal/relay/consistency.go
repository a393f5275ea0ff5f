package relay

import "errors"

// Consistency is how many backends must accept a write before it is
// answered 204 (see DESIGN.md, "Acknowledgement policy").
type Consistency uint8

const (
	// Any answers 204 once the write is durable in the log, unless every
	// backend that gave a verdict rejected it.
	Any Consistency = iota
	// One waits for one backend's 2xx.
	One
	// Quorum waits for a majority of the backends.
	Quorum
	// All waits for every backend.
	All
)

// ErrInvalidConsistency carries InfluxDB's wording for a bad level.
var ErrInvalidConsistency = errors.New("invalid consistency level")

// ParseConsistency parses the consistency parameter; "" is def.
func ParseConsistency(s string, def Consistency) (Consistency, error) {
	switch s {
	case "":
		return def, nil
	case "any":
		return Any, nil
	case "one":
		return One, nil
	case "quorum":
		return Quorum, nil
	case "all":
		return All, nil
	}
	return def, ErrInvalidConsistency
}

func (c Consistency) String() string {
	return [...]string{"any", "one", "quorum", "all"}[c]
}

// needed returns how many 2xx answers satisfy c with n backends.
func (c Consistency) needed(n int) int {
	switch c {
	case Quorum:
		return n/2 + 1
	case All:
		return n
	default:
		return 1
	}
}
