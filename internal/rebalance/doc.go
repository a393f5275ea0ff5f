// Package rebalance moves the data of a sharded listener to the shards
// that own it under the config: the engine of `influxgate rebalance`.
//
// The daemon and this package share the listener's state (shard.Store:
// files in the listener's directory, or with the log in NATS a bucket and
// a stream every node shares). The daemon
// starts a rebalance when the config's shards differ from the placement
// (Run does the same when it finds none), writes every key whose owner
// changes to both its old and its new owner until the key is done, and
// follows the state every second. Run never takes the daemon's lock: it
// reads and appends the state files, talks to the backends directly with
// each output's credentials, and reads the daemon's /health.
//
// # The steps
//
//  1. Schema: every database of a shard that may hold data is created on
//     every replica of every owning shard, with its retention policies and
//     continuous queries, before anything else, so that the dual writes
//     of moving keys find their database.
//  2. Wait until the daemon reports the rebalance on /health (from then on
//     it writes moving keys to both owners), then until each backend of
//     the listener has received every record the daemon had logged before
//     that moment (its backlog's oldest record is younger): the data a
//     copy reads from an old owner then holds every point written before
//     the dual writes began.
//  3. List the keys every shard holds (databases, measurements, and with
//     tag sharding the values of the tag plus the series without it), on
//     every replica. A key on a shard that owned it before the rebalance
//     and does not own it now moves.
//  4. Per key: compare the old owner's replicas (they must agree: a
//     replica behind or diverged would be a bad source; the key waits and
//     the operator is told); copy its points per retention policy from one
//     of them to every replica of the new owner with field types kept
//     (replica.CopyScope: the bucket statistics of verify, the typed copy
//     of resync); compare again and copy again what differs (an overwrite
//     delivered during the copy can land before the copy writes the older
//     value); when every new replica agrees, append "done". The daemon
//     picks it up within a second: the key's reads move to the new owner
//     and its writes stop going to the old one.
//  5. Once the newest "done" is Settle old (default 3 s: three of the
//     daemon's one-second polls) and the old owner's backends have
//     received everything logged before then, no point of the key can
//     reach the old owner any more: delete it there (DROP MEASUREMENT, or
//     DELETE FROM m WHERE K::tag = 'v'), check that no series is left and
//     append "cleared".
//  6. List again to retry the keys that could not move (the old owner's
//     replicas differed, a copy raced with writes) and to delete what is
//     left on old owners, until nothing of the first listing is left. The
//     first listing came after the wait of step 2, so it found every key
//     with points written before the dual writes began; a key that only a
//     later listing finds was written to both owners from its first point.
//  7. Finishing: mark the rebalance finishing in its state. The daemon
//     then reads and writes every key not done from its new owner alone.
//     A key still on its old owner and not done was written to both
//     owners from its first point, so its new owner holds all of it; Run
//     checks that it holds at least as many values per field and bucket,
//     then deletes the old owner's copy. Without this step a key first
//     written late in the rebalance would stay on its old owner after the
//     placement changes, and be counted twice; and waiting for a listing
//     without new keys would never end while new keys keep coming.
//  8. Write the new placement and remove the rebalance state
//     (shard.FinishMove): the daemon stops reporting the rebalance.
//
// Every step is idempotent and recorded before the next depends on it, so
// a crash of the tool or the daemon at any moment loses nothing: a key not
// done is copied again (buckets that already agree are skipped), a done
// key not cleared is deleted again, and a finishing rebalance resumes at
// step 7. Backends that are down, and a daemon that does not answer, are
// waited for, with a line saying what the tool waits for.
//
// # Assumptions
//
// With the local log, one influxgate writes through this data directory
// (its lock ensures it); several influxgate nodes in front of the same
// shards would each keep their own rebalance state and are not supported
// during a rebalance. With the log in NATS the state is shared
// (jetlog.ShardState) and so is the rest of the nodes' delivery state:
// every node reports which state it routes by (shard.Followers), and each
// step that relies on the daemons' routing (step 2's dual writes, step
// 5's "done", step 7's finishing) also waits until every node that
// reported lately follows it. Run reaches one daemon's /health at the
// listener's bind-addr (or Options.GateURL); with the log in NATS the
// backlogs it reports are the cluster's.
package rebalance
