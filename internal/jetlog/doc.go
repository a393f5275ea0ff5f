// Package jetlog is influxgate's write log in NATS JetStream
// ([log-store] engine = "nats"): a relay.Log, relay.CursorStore and
// relay.Shared that several influxgate nodes share, so that a node keeps
// no state the data depends on and can be destroyed, disk and all, without
// losing an acknowledged write, and so that every backend receives the
// writes of every node in one order.
//
// The design (measurements below):
//
//   - One stream per relay (<prefix>_<listener>, <prefix>_<listener>=2F<shard>
//     for a shard: the relay's name "listener/shard" escaped, see escape),
//     file storage, stream-replicas copies. A log index is the stream
//     sequence, so indexes are global across nodes and the verdict tracker
//     of every node agrees on them.
//   - Append publishes with a message id (node name, start time and a
//     counter) and returns only after JetStream's acknowledgement, which an
//     R3 stream sends once a majority of its replicas stored the message. A
//     publish that failed or timed out is retried with the same id for up
//     to 10 s; JetStream's duplicate window (2 min) makes a retry of a
//     stored message answer with the first one's sequence.
//   - Cursors are values in a key-value bucket (<prefix>_cursors), stored
//     by the deliverer every second like the local cursor files. The
//     stream is purged below the lowest stored cursor (every 5 s at most).
//     The rest of a backend's delivery state that must outlive a node (its
//     divergence mark, its pending continuous-query backfill) is kept the
//     same way in <prefix>_state (relay.StateStore); the new holder of a
//     lease loads it with the cursor.
//   - Exactly one deliverer per backend: a lease in a key-value bucket whose
//     entries expire after lease-ttl (<prefix>_leases). A node creates the
//     key to take the lease (only one create wins), renews it every third
//     of the TTL with an update conditioned on its revision, and stops
//     delivering when it could not renew for two thirds of the TTL — a third
//     of the TTL before any other node can take the key. Release (shutdown,
//     an output removed) deletes the key, so that another node takes over at
//     once. The new holder resumes from the stored cursor: records delivered
//     since the last store are delivered twice, in order (harmless: their
//     timestamps are fixed).
//   - The deliverer reads the stream with an ordered consumer from its
//     cursor: an ephemeral consumer that the client recreates from the last
//     sequence it received whenever the server it lived on goes away, or
//     when two of its one-second heartbeats are missed (a pull lost right
//     after the consumer was created; reader.go). Only the lease holder
//     reads, so a standby node costs the servers nothing.
//   - Verdicts (what a backend said about each record) and the deliverer's
//     state (live, replaying, down; its cursor) go to the other nodes on core
//     NATS subjects: the node that appended a write answers its client by
//     the consistency level from the deliverer's verdicts, and /health, the
//     live set and query routing are the same on every node. At most once
//     is enough: a lost verdict only makes a consistency=one/quorum/all
//     write time out although it was delivered, or an "any" write that
//     another backend refused be answered with that refusal when the
//     write timeout passes; either way the write is stored and delivered.
//   - A sharded listener's placement and rebalance state (shard.Store) is
//     in the bucket <prefix>_shard and the stream <prefix>_rebalance
//     (shardstate.go), and each node reports there every second which state
//     it routes by, so that influxgate rebalance waits for every node.
//   - Offsets (backlog bytes, buffer-size-mb caps) are estimated: JetStream
//     tells a stream's size but not where a record starts in bytes, so an
//     offset is the index times the stream's mean stored record size.
//
// # Why not a durable consumer per backend
//
// The issue suggests a durable pull consumer per backend, bounded by
// MaxAckPending, or a pinned-client priority group (nats-server 2.11+),
// with the consumer's ack floor as the cursor. All three were measured
// against a three-server cluster on this machine (2 vCPU shared with other
// work, nats-server 2.14.10, an R3 stream of 20,000 records of 1 KiB;
// measure_test.go, run with JETLOG_MEASURE=1; one run, the ordered
// consumer's figure varied between 44k and 110k records/s across runs):
//
//	one deliverer reading in order             records/s
//	ordered consumer (this package)              110,155
//	durable pull, MaxAckPending 1                  2,253
//	durable pull, MaxAckPending 1000, AckAll      37,462
//	pinned-client group, MaxAckPending 1000       40,434
//
//	takeover after the deliverer dies            first record   order
//	pinned group, PinnedTTL 1s, AckWait 2s       0.97 s         broken: 101.. first, 51-100 after 1.98 s
//	pinned group, PinnedTTL 1s, AckWait 10s      0.97 s         broken: 101.. first, 51-100 after 9.97 s
//	lease, lease-ttl 1s (3 runs)                 1.13-1.53 s    kept: resumes at the stored cursor
//	lease, lease-ttl 3s (default; 3 runs)        3.1-4.3 s      kept
//	lease released (clean shutdown)              ~10 ms         kept
//
// In the takeover runs the dead deliverer had received 100 records and
// acknowledged 50. The pinned group hands the next client new records at
// once and the unacknowledged ones only after AckWait: a backend would
// receive record 101 before 51, which is influxdb-relay's overwrite caveat
// again. Keeping order would mean holding every record ahead of the ack
// floor back until the redelivery (a takeover of AckWait or more), or
// MaxAckPending 1, which allows one record per round trip (2.2k records/s,
// and no merging of records into batches). A pull consumer without pinning
// splits records between competing nodes and needs the same bound. The
// lease keeps order by construction, lets the deliverer read ahead and
// merge records into batches as with the local log, and needs nothing newer
// than nats-server 2.9: every NATS test, the fault suite included, passes
// with Debian's 2.9.10 (NATS_SERVER=/usr/sbin/nats-server) as with 2.14.10.
//
// # Limits
//
//   - Killing the NATS server that leads the lease bucket stops every
//     deliverer until the bucket has a new leader and the leases are taken
//     again (a few seconds): a deliverer must stop when it cannot renew.
//     Writes go on being acknowledged meanwhile (appends need only the
//     stream's leader); a write with consistency one, quorum or all may
//     time out with 503 (stored, and delivered after).
//   - A record must fit in one NATS message: the servers' max_payload (1 MiB
//     by default; 8 MiB is the recommended maximum) less 512 bytes. A larger
//     write is answered 413.
//   - Dead letters are kept in one stream, <prefix>_deadletter, a subject
//     per relay and backend (deadletter.go): a node keeps nothing in its
//     data-dir that another node needs.
package jetlog
