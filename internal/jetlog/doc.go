// Package jetlog is influxgate's write log in NATS JetStream
// ([log-store] engine = "nats"): a relay.Log, relay.CursorStore and
// relay.Shared that several influxgate nodes share, so that a node keeps
// no state the data depends on and can be destroyed, disk and all, without
// losing an acknowledged write, and so that every backend receives the
// writes of every node in one order.
//
// The design (measurements below):
//
//   - One stream per relay (<prefix>_<listener>, <prefix>_<listener>_<shard>
//     for a shard), file storage, stream-replicas copies. A log index is the
//     stream sequence, so indexes are global across nodes and the verdict
//     tracker of every node agrees on them.
//   - Append publishes with a message id (node name, start time and a
//     counter) and returns only after JetStream's acknowledgement, which an
//     R3 stream sends once a majority of its replicas stored the message. A
//     publish that failed or timed out is retried with the same id for up
//     to 10 s; JetStream's duplicate window (2 min) makes a retry of a
//     stored message answer with the first one's sequence.
//   - Cursors are values in a key-value bucket (<prefix>_cursors), stored
//     by the deliverer every second like the local cursor files. The
//     stream is purged below the lowest stored cursor (every 5 s at most).
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
//     sequence it received whenever the server it lived on goes away. Only
//     the lease holder reads, so a standby node costs the servers nothing.
//   - Verdicts (what a backend said about each record) and the deliverer's
//     state (live, replaying, down; its cursor) go to the other nodes on core
//     NATS subjects: the node that appended a write answers its client by
//     the consistency level from the deliverer's verdicts, and /health, the
//     live set and query routing are the same on every node. At most once
//     is enough: a lost verdict only makes a consistency=one/quorum/all
//     write time out although it was delivered.
//   - Offsets (backlog bytes, buffer-size-mb caps) are estimated: JetStream
//     tells a stream's size but not where a record starts in bytes, so an
//     offset is the index times the stream's mean stored record size.
//
// # Why not a durable consumer per backend
//
// The issue suggests a durable pull consumer per backend, bounded by
// MaxAckPending, or a pinned-client priority group (nats-server 2.11+),
// with the consumer's ack floor as the cursor. Both were tried against a
// three-server cluster on this machine (nats-server 2.14.10; see
// TestMeasure* in measure_test.go, run with JETLOG_MEASURE=1):
//
// MEASUREMENTS
//
// In both, messages that the dead deliverer had received but not acked are
// redelivered only after AckWait, while later messages may go to the new
// deliverer first: order across a takeover is not kept unless MaxAckPending
// is 1, which allows one record per round trip and so no batching. The
// lease keeps the order by construction (the new deliverer reads from the
// stored cursor), lets the deliverer batch as the local log does, and works
// with nats-server 2.9 (Debian's) as well.
package jetlog
