package jetlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/influxgate/influxgate/internal/shard"
)

// A sharded listener's placement and rebalance state (shard.Store), shared
// by every node, so that all of them route alike and influxgate rebalance
// can run beside any of them:
//
//	bucket <prefix>_shard (created when first written)
//	  <listener>.placement        the placement (JSON)
//	  <listener>.move             the rebalance in progress (JSON)
//	  <listener>.follower.<node>  which state that node routes by (JSON),
//	                              written every second (shard.Followers)
//	stream <prefix>_rebalance (created when first written)
//	  <prefix>.rebalance.<listener>.<move>  the key events of one
//	                              rebalance, in order; <move> is its start
//	                              time, so that events of an earlier
//	                              rebalance never count for a later one
//	lease  rebalance.tool.<listener> in <prefix>_leases: the rebalance
//	                              tool's lock, which expires with a tool
//	                              that died
//
// Every write is stored on a quorum of the servers before it returns.

// ShardState returns the state of the sharded listener named listener,
// on c; the caller closes c.
func ShardState(c *Conn, listener string) *ShardStore {
	key := escape(listener)
	return &ShardStore{c: c, key: key, subjects: c.cfg.StreamPrefix + ".rebalance." + key + "."}
}

// ShardStore is a shard.Store and shard.Followers in JetStream.
type ShardStore struct {
	c        *Conn
	key      string
	subjects string // the key events' subject prefix; the move's id follows
}

var (
	_ shard.Store     = (*ShardStore)(nil)
	_ shard.Followers = (*ShardStore)(nil)
)

func (c *Conn) shardBucket(create bool) (jetstream.KeyValue, error) {
	return c.lazyBucket(&c.shards, create, "_shard", "influxgate: the placement and rebalance state of sharded listeners")
}

func (c *Conn) rebalanceStream(create bool) (jetstream.Stream, error) {
	return c.lazyStream(&c.moves, create, "_rebalance", "rebalance", "influxgate: the keys influxgate rebalance has moved")
}

// get reads one key: its value and revision; nil, 0 when it is absent.
func (s *ShardStore) get(name string) ([]byte, uint64, error) {
	kv, err := s.c.shardBucket(false)
	if err != nil || kv == nil {
		return nil, 0, err
	}
	e, err := kvGet(kv, s.key+"."+name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read %s of listener state: %w", name, err)
	}
	return e.Value(), e.Revision(), nil
}

func (s *ShardStore) put(name string, value []byte) error {
	kv, err := s.c.shardBucket(true)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, err = kv.Put(ctx, s.key+"."+name, value)
	return err
}

func (s *ShardStore) where(name string) string {
	return fmt.Sprintf("%s in NATS bucket %s_shard", s.key+"."+name, s.c.cfg.StreamPrefix)
}

// Placement implements shard.Store.
func (s *ShardStore) Placement() ([]string, bool, error) {
	b, _, err := s.get("placement")
	if err != nil || b == nil {
		return nil, false, err
	}
	shards, err := shard.DecodePlacement(b, s.where("placement"))
	return shards, err == nil, err
}

// SetPlacement implements shard.Store.
func (s *ShardStore) SetPlacement(shards []string) error {
	return s.put("placement", shard.EncodePlacement(shards))
}

// Move implements shard.Store.
func (s *ShardStore) Move() (*shard.MoveState, error) {
	b, _, err := s.get("move")
	if err != nil || b == nil {
		return nil, err
	}
	return shard.DecodeMove(b, s.where("move"))
}

// StartMove creates the move key; when another process created it first,
// it returns theirs.
func (s *ShardStore) StartMove(m *shard.MoveState) (*shard.MoveState, error) {
	kv, err := s.c.shardBucket(true)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	_, err = kv.Create(ctx, s.key+".move", shard.EncodeMove(m))
	cancel()
	if errors.Is(err, jetstream.ErrKeyExists) {
		cur, err := s.Move()
		if err == nil && cur == nil {
			err = errors.New("a rebalance was started and finished meanwhile; start again")
		}
		return cur, err
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// MarkFinishing implements shard.Store.
func (s *ShardStore) MarkFinishing(m *shard.MoveState) error {
	f := *m
	f.Finishing = true
	if err := s.put("move", shard.EncodeMove(&f)); err != nil {
		return err
	}
	m.Finishing = true
	return nil
}

// subject is where the key events of rebalance m go.
func (s *ShardStore) subject(m *shard.MoveState) string {
	return s.subjects + strconv.FormatInt(m.Started.UnixNano(), 10)
}

// MovedKeys reads the key events of the rebalance in progress.
func (s *ShardStore) MovedKeys() (done, cleared map[string]bool, err error) {
	done, cleared = map[string]bool{}, map[string]bool{}
	m, err := s.Move()
	if err != nil || m == nil {
		return done, cleared, err
	}
	st, err := s.c.rebalanceStream(false)
	if err != nil || st == nil {
		return done, cleared, err
	}
	subject := s.subject(m)
	last, err := lastMsg(st, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return done, cleared, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read the moved keys in %s: %w", subject, err)
	}
	handed, err := readSubject(st, subject, 1024, last.Sequence, func(_ uint64, data []byte) error {
		shard.DecodeKeys(data, done, cleared)
		return nil
	})
	if err == nil && handed < last.Sequence {
		err = fmt.Errorf("the stream ended before its last event (%d)", last.Sequence)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read the moved keys in %s: %w", subject, err)
	}
	return done, cleared, nil
}

// AddKey publishes the event under the rebalance in progress.
func (s *ShardStore) AddKey(e shard.KeyEvent) error {
	m, err := s.Move()
	if err != nil {
		return err
	}
	if m == nil {
		return errors.New("no rebalance is in progress")
	}
	if _, err := s.c.rebalanceStream(true); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, err = s.c.js.Publish(ctx, s.subject(m), shard.EncodeKey(e))
	return err
}

// FinishMove writes the placement, then forgets the rebalance, then its
// events: a crash in between leaves either a rebalance that finds every
// key in place or events no rebalance reads.
func (s *ShardStore) FinishMove(to []string) error {
	if err := s.SetPlacement(to); err != nil {
		return err
	}
	kv, err := s.c.shardBucket(true)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := kv.Delete(ctx, s.key+".move"); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	st, err := s.c.rebalanceStream(false)
	if err != nil || st == nil {
		return err
	}
	return st.Purge(ctx, jetstream.WithPurgeSubject(s.subjects+">"))
}

// Version is made of the placement's and the move's revisions and the
// sequence of the rebalance's last key event.
func (s *ShardStore) Version() (shard.Version, error) {
	var v shard.Version
	var err error
	if _, v.Placement, err = s.get("placement"); err != nil {
		return v, err
	}
	b, rev, err := s.get("move")
	if err != nil || b == nil {
		return v, err
	}
	v.Move = rev
	m, err := shard.DecodeMove(b, s.where("move"))
	if err != nil {
		return v, err
	}
	st, err := s.c.rebalanceStream(false)
	if err != nil || st == nil {
		return v, err
	}
	last, err := lastMsg(st, s.subject(m))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return v, err
	default:
		v.Keys = last.Sequence
	}
	return v, nil
}

// Lock takes the lease rebalance.tool.<listener>, waiting up to a lease
// TTL and a little more for one a tool that died left behind.
func (s *ShardStore) Lock() (func() error, error) {
	l := newLease(s.c, "rebalance.tool."+s.key)
	ctx, cancel := context.WithTimeout(context.Background(), s.c.cfg.LeaseTTL+2*time.Second)
	defer cancel()
	if _, err := l.Acquire(ctx); err != nil {
		return nil, fmt.Errorf("the lock (lease %s in %s_leases) is held: %w", l.key, s.c.cfg.StreamPrefix, err)
	}
	return func() error { l.Release(); return nil }, nil
}

// Report implements shard.Followers.
func (s *ShardStore) Report(f shard.Follower) error {
	b, _ := json.Marshal(f)
	return s.put("follower."+escape(f.Node), b)
}

// Leave implements shard.Followers. A node that crashed leaves its report
// behind, a small key that Followers' callers skip as stale.
func (s *ShardStore) Leave(node string) error {
	kv, err := s.c.shardBucket(false)
	if err != nil || kv == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	err = kv.Purge(ctx, s.key+".follower."+escape(node))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		err = nil
	}
	return err
}

// Followers implements shard.Followers; a report's At is when the NATS
// server stored it.
func (s *ShardStore) Followers() ([]shard.Follower, error) {
	kv, err := s.c.shardBucket(false)
	if err != nil || kv == nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	lister, err := kv.ListKeysFiltered(ctx, s.key+".follower.*")
	if err != nil {
		return nil, err
	}
	var out []shard.Follower
	for k := range lister.Keys() {
		e, err := kvGet(kv, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var f shard.Follower
		if json.Unmarshal(e.Value(), &f) == nil {
			f.At = e.Created() // the server's clock, not the node's
			out = append(out, f)
		}
	}
	return out, nil
}
