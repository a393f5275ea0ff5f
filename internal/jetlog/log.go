package jetlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/wal"
)

const (
	// appendTimeout bounds one Append, its retries included: a stream
	// whose leader died elects another within a few seconds.
	appendTimeout = 10 * time.Second
	// refreshPeriod is how often the stream's bounds and size are read
	// (LastIndex for a node that neither appends nor reads, the mean record
	// size behind offsets).
	refreshPeriod = 500 * time.Millisecond
	// truncatePeriod: purging delivered records is cheap for JetStream but
	// reads every cursor; once every few seconds is plenty.
	truncatePeriod = 5 * time.Second
	// headerRoom is what a message needs beyond its payload (subject,
	// message id header) within the server's max_payload.
	headerRoom = 512
)

// Log is one relay's write log in a JetStream stream: a listener's, or a
// shard's. It implements relay.Log and relay.Shared.
type Log struct {
	c       *Conn
	name    string // the relay's name
	key     string // escaped name: stream suffix, subject token, key prefix
	stream  string
	subject string
	// maxRecord is the largest payload a message can carry.
	maxRecord int
	idPrefix  string
	ids       atomic.Uint64

	first, last atomic.Uint64
	storeBytes  atomic.Uint64
	mean        atomic.Int64 // mean stored bytes per record, for offsets

	mu     sync.Mutex
	wake   chan struct{} // closed when last grows
	leases map[string]*lease

	cursors *Cursors
	share   *share

	appends, appendBytes, appendErrors, duplicates atomic.Uint64
	lastTruncate                                   time.Time // housekeeper goroutine only

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

var (
	_ relay.Log    = (*Log)(nil)
	_ relay.Shared = (*Log)(nil)
)

// OpenFunc returns a relay.OpenLogFunc that opens each relay's log in
// JetStream with a connection of its own.
func OpenFunc(cfg Config) relay.OpenLogFunc {
	return func(opts relay.Options) (relay.Log, relay.CursorStore, error) {
		c, err := Connect(cfg.Store, cfg.Node, opts.Logger)
		if err != nil {
			return nil, nil, err
		}
		l, err := Open(c, opts.Name)
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		if cfg.MaxBodySize == 0 || cfg.MaxBodySize > int64(l.maxRecord) {
			c.logger.Warn("the NATS servers' max_payload is smaller than max-body-size: larger writes are answered 413",
				"listener", opts.Name, "max_record_bytes", l.maxRecord, "max_body_size", cfg.MaxBodySize,
				"hint", "raise max_payload on the NATS servers (8MB at most is recommended) or lower max-body-size")
		}
		return l, l.cursors, nil
	}
}

// Open creates (or updates) the stream of the relay named name and opens
// its log. The log owns c from then on: Close closes it.
func Open(c *Conn, name string) (*Log, error) {
	key := escape(name)
	l := &Log{c: c, name: name, key: key,
		stream:    c.cfg.StreamPrefix + "_" + key,
		subject:   c.cfg.StreamPrefix + ".log." + key,
		idPrefix:  c.node + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-",
		maxRecord: int(c.nc.MaxPayload()) - headerRoom,
		wake:      make(chan struct{}), leases: make(map[string]*lease),
		stop: make(chan struct{}), done: make(chan struct{})}
	l.mean.Store(1024)
	want := jetstream.StreamConfig{
		Name:        l.stream,
		Description: "influxgate write log of " + name,
		Subjects:    []string{l.subject},
		Storage:     jetstream.FileStorage,
		Replicas:    c.cfg.StreamReplicas,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		// A retried append carries the same message id; JetStream stores
		// it once within this window.
		Duplicates: 2 * time.Minute,
	}
	if _, err := c.stream(want); err != nil {
		return nil, err
	}
	var err error
	if err = retry("open the log", l.refresh); err != nil {
		return nil, err
	}
	if l.cursors, err = openCursors(c, key); err != nil {
		return nil, err
	}
	l.share = newShare(c, c.cfg.StreamPrefix+".relay."+key)
	go l.housekeep()
	return l, nil
}

// refresh reads the stream's bounds and size.
func (l *Log) refresh(ctx context.Context) error {
	st, err := l.c.js.Stream(ctx, l.stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", l.stream, err)
	}
	s := st.CachedInfo().State
	l.first.Store(s.FirstSeq)
	l.raise(s.LastSeq)
	l.storeBytes.Store(s.Bytes)
	if s.Msgs > 0 {
		l.mean.Store(max(int64(s.Bytes/s.Msgs), 1))
	}
	return nil
}

func (l *Log) housekeep() {
	defer close(l.done)
	t := time.NewTicker(refreshPeriod)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		if err := l.refresh(ctx); err != nil {
			l.c.logger.Debug("cannot read the stream's state", "stream", l.stream, "err", err)
		}
		cancel()
	}
}

// raise notes that index seq exists.
func (l *Log) raise(seq uint64) {
	for {
		cur := l.last.Load()
		if seq <= cur {
			return
		}
		if l.last.CompareAndSwap(cur, seq) {
			break
		}
	}
	l.mu.Lock()
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
}

// Append publishes payload to the stream with a message id and returns its
// sequence once JetStream acknowledged it, which it does only after a
// majority of the stream's replicas stored it. A publish that timed out
// is retried with the same id: if the first one was stored after all,
// JetStream answers with its sequence rather than storing it twice.
func (l *Log) Append(payload []byte) (uint64, error) {
	if len(payload) > l.maxRecord {
		return 0, wal.ErrTooLarge
	}
	msg := &nats.Msg{Subject: l.subject, Data: payload}
	id := l.idPrefix + strconv.FormatUint(l.ids.Add(1), 36)
	deadline := time.Now().Add(appendTimeout)
	wait := 50 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), min(opTimeout, time.Until(deadline)))
		ack, err := l.c.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			if ack.Duplicate {
				l.duplicates.Add(1)
			}
			l.appends.Add(1)
			l.appendBytes.Add(uint64(len(payload)))
			l.raise(ack.Sequence)
			return ack.Sequence, nil
		}
		if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrMaxPayload) || time.Now().Add(wait).After(deadline) {
			l.appendErrors.Add(1)
			return 0, fmt.Errorf("append to stream %s: %w", l.stream, err)
		}
		time.Sleep(wait)
		wait = min(2*wait, time.Second)
	}
}

// FirstIndex is the oldest sequence the stream holds (LastIndex()+1 when
// every record was purged, 0 when it never held one).
func (l *Log) FirstIndex() uint64 { return l.first.Load() }

// LastIndex is the newest sequence this node knows of: its own appends,
// what its readers received, and the stream's state read twice a second.
func (l *Log) LastIndex() uint64 { return l.last.Load() }

// OffsetOf estimates the log offset of index idx: JetStream tells the
// stream's size but not the position of each record in bytes, so offsets
// are indexes times the mean stored record size. Backlogs in bytes and the
// buffer-size-mb caps are that estimate (docs/deployment.md).
func (l *Log) OffsetOf(idx uint64) int64 {
	if idx == 0 {
		return 0
	}
	return int64(idx-1) * l.mean.Load()
}

// EndOffset is OffsetOf(LastIndex()+1).
func (l *Log) EndOffset() int64 { return l.OffsetOf(l.last.Load() + 1) }

// Notify returns a channel closed once an index after after exists.
func (l *Log) Notify(after uint64) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last.Load() > after {
		c := make(chan struct{})
		close(c)
		return c
	}
	return l.wake
}

// TruncateFront purges the records every stored cursor of this log has
// passed. The stored cursors are read from JetStream rather than taken
// from before, which is only what this node's deliverers passed: other
// nodes deliver to the other backends.
func (l *Log) TruncateFront(before uint64) error {
	if time.Since(l.lastTruncate) < truncatePeriod {
		return nil
	}
	l.lastTruncate = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*opTimeout)
	defer cancel()
	low, ok, err := l.cursors.min(ctx)
	if err != nil || !ok {
		return err
	}
	if low <= l.first.Load() {
		return nil
	}
	st, err := l.c.js.Stream(ctx, l.stream)
	if err == nil {
		err = st.Purge(ctx, jetstream.WithPurgeSequence(low))
	}
	if err != nil {
		return fmt.Errorf("purge stream %s below %d: %w", l.stream, low, err)
	}
	l.first.Store(low)
	return nil
}

// Stats reports the stream's size and this node's appends.
func (l *Log) Stats() wal.Stats {
	return wal.Stats{FirstIndex: l.first.Load(), LastIndex: l.last.Load(), EndOffset: l.EndOffset(),
		DiskBytes: int64(l.storeBytes.Load()), Appends: l.appends.Load(), AppendBytes: l.appendBytes.Load(),
		Writes: l.appends.Load(), AppendErrors: l.appendErrors.Load()}
}

// Close stops the log's goroutines and closes its connection. Leases are
// released by the relay before, once the cursors are stored.
func (l *Log) Close() error {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		l.share.close()
		l.c.Close()
	})
	return nil
}

// Node names this node.
func (l *Log) Node() string { return l.c.node }

// Lease returns the lease of backend name.
func (l *Log) Lease(name string) relay.Lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	if le := l.leases[name]; le != nil {
		return le
	}
	le := newLease(l.c, l.key+"."+escape(name))
	l.leases[name] = le
	return le
}
