// Package replica tells whether the InfluxDB backends of an influxgate
// listener hold the same data (Verify) and brings one back in line with
// another (Resync), while influxgate keeps relaying live writes to both.
// It replaces influxdb-relay's manual recovery (copying shard backups from a
// good server to one that was down) with two commands, `influxgate verify`
// and `influxgate resync`; docs/recovery.md is the operator's guide.
//
// Everything goes through each backend's own HTTP API with the output's
// credentials: InfluxQL on /query at the output location's base URL, line
// protocol on the output's write URL. The requests are built and sent by
// backend.Client, the one InfluxDB client of influxgate (its transport,
// TLS settings and credential rules); this package adds only its retry
// policy (Requests: attempts with a doubling backoff for failures the
// client classifies as transient) and a bound on the requests in flight to
// each backend (server.go). Nothing here takes the daemon's
// data-directory lock; the only files touched are the resync progress file
// (data-dir/resync/<listener>-<from>-<to>.json, or for a shard of a
// sharded listener <shard dir>/resync/<from>-<to>.json) and the daemon's
// divergence mark (<replica set dir>/diverged/<output>, the replica set
// dir being data-dir/<listener dir> or data-dir/<listener
// dir>/shards/<shard>; with a log in NATS, a key of the <prefix>_state
// bucket instead). Each shard of a sharded listener is a replica set
// of its own (ReplicaSet): verify compares each, resync works within one.
//
// # Comparing
//
// Verify compares, per database (all but _internal, or one): the retention
// policies (name, duration, default flag), the measurements, per retention
// policy and measurement the field keys and their types, and per time
// bucket (default 1h) the aggregates of
//
//	SELECT count(*), sum(*), min(*), max(*) FROM rp.m
//	WHERE time >= .. AND time < .. GROUP BY time(1h) fill(none)
//
// one query per 24 buckets. InfluxQL counts values per field, not points,
// so counts are compared field by field, which is exact for sparse fields
// too; sums, minima and maxima are the cheap checksum InfluxQL allows
// (numeric fields; booleans have min and max). Float sums depend on the
// order of addition, so they match within the bound of rounding (see
// stats.go); when a float sum overflows, influxd cannot print its answer
// and that window is compared without sums. The time range is the data's
// own (the first and last point, two LIMIT 1 queries per measurement)
// unless -start/-end narrow it. Load stays bounded: at most Concurrency
// queries in flight to each backend, each reading one window. Buckets that
// differ are compared once more after Recheck, so a write still on its way
// to one replica is not reported.
//
// Not compared: users, continuous queries and subscriptions (per-server
// settings, not data), shard durations (they do not change the data), and
// which series a value belongs to within a bucket (the aggregates are per
// measurement; a string overwritten with another string in place leaves
// them unchanged).
//
// # Copying
//
// Resync creates the schema first — missing databases (with the source's
// default retention policy, so no autogen policy appears that the source
// lacks) and retention policies with the source's duration, shard
// duration, replication and default flag; differing policies are altered
// to match — then copies data bucket by bucket. Each bucket is read with
// a chunked SELECT * ... GROUP BY * at epoch=ns: GROUP BY * puts every
// tag into the series' tags and leaves only fields as columns, even when a
// tag and a field share a name. SHOW FIELD KEYS gives each field's type,
// because JSON cannot tell the float 1.0 from the integer 1. Numbers are
// decoded with json.Decoder.UseNumber, so 64-bit integers and nanosecond
// times stay exact, and floats are re-printed with strconv 'g' -1, which
// parses back to the same bits. Lines are written to the target in
// batches (default 5000) with precision=n.
//
// Buckets in which the target already agrees with the source are skipped,
// so a re-run copies only what is missing. Writes are idempotent (a point
// is keyed by measurement, tag set, field and timestamp), so copying a
// bucket twice is harmless. Resync never deletes: points the target has
// and the source lacks remain, and are reported.
//
// Progress is saved after every bucket (state.go); an interrupted resync
// run again with the same parameters skips the buckets already copied.
// Points per second can be limited (golang.org/x/time/rate; a batch is the
// unit that waits). Points the target refuses (HTTP 400: a field type
// conflict, points beyond its retention) are reported per bucket and do not
// stop the copy.
//
// # Live writes during a resync
//
// influxgate keeps relaying writes to every backend while a resync runs.
// Both reach the target as idempotent writes keyed by series, field and
// timestamp, so the only hazard is an overwrite: a write that gives an
// existing series and timestamp a new value. influxgate delivers to each
// backend in log order, so the relayed overwrite reaches the target after
// every earlier write of that point; but the resync may have read the old
// value from the source just before the overwrite reached the source, and
// write it to the target just after the overwrite reached the target. The
// target then holds the old value and the source the new one. New points
// (new timestamps or series) cannot be lost this way: whatever the resync
// writes is a value the source held, and the relayed write of a new point
// arrives regardless of the copy.
//
// To close that window, after the copy Resync compares the whole range
// again (the same per-bucket aggregates, with the recheck) and copies the
// buckets that differ again, up to Passes times; it reports what still
// differs. What remains possible: an overwrite that changes no aggregate
// (a string value replaced by another, a value replaced by one that keeps
// count, sum, min and max), or one racing with the last pass. Running
// verify after a quiet period (or during a lull in overwrites) confirms
// the result. A DELETE or DROP relayed during a resync has the mirror
// hazard: the resync may write back points it read before the deletion
// reached the source; the comparison reports them (the target then holds
// more than the source) and the deletion must be repeated. The source must itself be caught up (no backlog on
// influxgate's /health) for what it holds to be what was acknowledged.
//
// # Divergence marks
//
// When the daemon's overflow policy skips records for an output, it
// writes the time T to <replica set dir>/diverged/<output> (with a log in
// NATS, to the state bucket: Marks) and /health reports the output as
// "diverged since T". SettleMarker deletes it, clearing the mark, after a resync into that output that
// copied every database over a range covering [T, the resync's start] and
// ended with agreeing replicas; otherwise it keeps the mark and says why.
//
// # Libraries
//
// golang.org/x/time/rate paces writes, golang.org/x/sync/errgroup bounds
// concurrency, golang.org/x/term detects a terminal for the progress bar.
// The InfluxQL requests (a query, optionally chunked, a statement and a
// write, with exact number decoding) are backend.Client's: InfluxData's 1.x
// Go client would add a dependency that InfluxData no longer develops while
// still leaving the typing of values to the caller.
package replica
