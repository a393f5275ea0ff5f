package shard

import (
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Placement is the owner function of a sharded listener: rendezvous
// (highest random weight) hashing over the names of the shards that own
// keys. For a key k and a shard named n,
//
//	score(n, k) = splitmix64(xxh64(k) XOR xxh64(n))
//
// (xxh64 with seed 0, splitmix64 the finaliser of Steele et al.'s
// SplitMix64); the owner is the shard with the highest score, the smaller
// name on a tie. It depends on nothing but the names and the key, so every
// influxgate node with the same shard names agrees, and adding a shard
// moves exactly the keys the new shard now wins: about 1/N of them, and
// none between the old shards.
type Placement struct {
	names []string
	seeds []uint64
}

// NewPlacement returns the placement over names (the shards that own keys;
// a retired shard is left out). Order does not matter.
func NewPlacement(names []string) Placement {
	p := Placement{names: slices.Clone(names)}
	slices.Sort(p.names)
	for _, n := range p.names {
		p.seeds = append(p.seeds, xxhash.Sum64String(n))
	}
	return p
}

// Names are the shards that own keys, sorted.
func (p Placement) Names() []string { return p.names }

// Owner returns the name of the shard that owns key.
func (p Placement) Owner(key []byte) string {
	h := xxhash.Sum64(key)
	best, bestScore := 0, uint64(0)
	for i, s := range p.seeds {
		// Names are sorted, so on a tie the first (smaller) name stays.
		if score := splitmix64(h ^ s); i == 0 || score > bestScore {
			best, bestScore = i, score
		}
	}
	return p.names[best]
}

func splitmix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// AppendKey appends the placement key of a point to dst: the database, a
// NUL byte and the measurement name for shard-key = "measurement"; with
// shard-key = "tag:K" also a NUL byte and the value of tag K ("" when the
// point has no such tag). Names are unescaped, as queries name them.
func AppendKey(dst []byte, db string, measurement []byte, tagValue []byte, byTag bool) []byte {
	dst = append(dst, db...)
	dst = append(dst, 0)
	dst = append(dst, measurement...)
	if byTag {
		dst = append(dst, 0)
		dst = append(dst, tagValue...)
	}
	return dst
}
