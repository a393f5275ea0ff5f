package shard

// Route says where keys go: the placement in force and, while a rebalance
// runs, the placement before it and which keys have moved. It is
// immutable; a new one replaces it when the rebalance progresses.
type Route struct {
	to Placement
	// from is the placement before the rebalance; nil when none runs.
	from *Placement
	// done are keys copied to their new owner and verified: it serves
	// them from then on. cleared are done keys whose data is also gone
	// from their old owner.
	done, cleared map[string]bool
	// finishing: every key that existed before the rebalance is done,
	// so the keys not in done (first written during the rebalance, to
	// both owners) are served by their new owner too, and written to it
	// alone; their old owner's copies are strays until cleared.
	finishing bool
}

// NewRoute is the routing without a rebalance.
func NewRoute(owners Placement) *Route { return &Route{to: owners} }

// NewMoveRoute is the routing while a rebalance moves keys from one
// placement to another.
func NewMoveRoute(from, to Placement, done, cleared map[string]bool) *Route {
	return &Route{to: to, from: &from, done: done, cleared: cleared}
}

// moved reports whether key's new owner serves it.
func (r *Route) moved(key string) bool { return r.finishing || r.done[key] }

// Moving reports whether a rebalance is in progress.
func (r *Route) Moving() bool { return r.from != nil }

// To is the placement the listener converges to (the config's).
func (r *Route) To() Placement { return r.to }

// From is the placement before the rebalance, and false when none runs.
func (r *Route) From() (Placement, bool) {
	if r.from == nil {
		return Placement{}, false
	}
	return *r.from, true
}

func (r *Route) names() []string {
	n := append([]string(nil), r.to.Names()...)
	if r.from != nil {
		n = append(n, r.from.Names()...)
	}
	return n
}

// writeOwners returns the owner of key and, while the key moves and its
// move is not done, its old owner: writes go to both, so that the shard
// that serves the key's reads until the move completes has every point,
// and the new owner has every point written since the move began. Once the
// rebalance is finishing, a key not done goes to its new owner alone.
func (r *Route) writeOwners(key []byte) (owner, old string) {
	owner = r.to.Owner(key)
	if r.from == nil {
		return owner, ""
	}
	if o := r.from.Owner(key); o != owner && !r.moved(string(key)) {
		return owner, o
	}
	return owner, ""
}

// ReadOwner returns the shard that serves key's reads: its owner, or its
// old owner while its move is not done.
func (r *Route) ReadOwner(key []byte) string {
	owner := r.to.Owner(key)
	if r.from == nil {
		return owner
	}
	if o := r.from.Owner(key); o != owner && !r.moved(string(key)) {
		return o
	}
	return owner
}

// Strays reports whether shard may hold points of key that it does not
// serve: the new owner while the key's move is not done (the points
// copied so far and the dual writes), the old owner once it is done and
// until its data there is deleted. A query that reads from several shards
// must leave such points out, or it would count them twice.
func (r *Route) Strays(shard string, key []byte) bool {
	if r.from == nil {
		return false
	}
	owner, old := r.to.Owner(key), r.from.Owner(key)
	if owner == old {
		return false
	}
	k := string(key)
	switch shard {
	case owner:
		return !r.moved(k)
	case old:
		return r.moved(k) && !r.cleared[k]
	}
	return false
}
