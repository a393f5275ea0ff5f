// Package shard is the sharding layer of a listener: it spreads the data
// of one [[http]] listener over several replica sets (shards), each an
// ordinary relay with its own log, backends, cursors and dead letters, so
// that every guarantee of an unsharded listener holds per shard.
//
// A point's key is (database, measurement) with shard-key = "measurement",
// or (database, measurement, value of tag K) with shard-key = "tag:K"; its
// owner is a pure function of the shard names and the key (Placement,
// rendezvous hashing). A write is stamped once, then split by owner, each
// part appended to its shard's log, and the answers combined (Set.Write).
// A rebalance in progress (Move) adds, for the keys that change owner and
// are not yet moved, the old owner as a second target, and says which
// shard serves each key's reads. Queries are planned and merged by the
// query gateway; docs/sharding.md has the rules.
package shard
