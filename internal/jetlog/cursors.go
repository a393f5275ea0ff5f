package jetlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/relay"
)

// Cursors keeps each backend's position in a key-value bucket
// (<prefix>_cursors, replicated like the streams), under
// <relay>.<backend>: whichever node delivers to a backend next resumes
// from there. It implements relay.CursorStore.
type Cursors struct {
	c      *Conn
	prefix string // "<relay key>."

	mu      sync.Mutex
	damaged map[string]error
}

var (
	_ relay.CursorStore = (*Cursors)(nil)
	_ relay.StateStore  = (*Cursors)(nil)
)

// openCursors reads every stored cursor of a relay once, so that a bucket
// that cannot be read stops the start (rather than starting every backend
// at the head of the log) and unreadable values are known (Damaged). Like
// opening the buckets, it is tried for startBudget: a node that starts
// while the bucket elects a new leader (a NATS server was just lost)
// waits for it rather than fail.
func openCursors(c *Conn, relayKey string) (*Cursors, error) {
	cs := &Cursors{c: c, prefix: relayKey + ".", damaged: make(map[string]error)}
	var names []string
	err := retry("read the cursors of "+relayKey, func(ctx context.Context) (err error) {
		names, err = cs.names(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		err := retry("read the cursor of "+n, func(context.Context) error {
			_, _, err := cs.load(n)
			var bad *badCursor
			if errors.As(err, &bad) {
				cs.damaged[n] = err
				return nil
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return cs, nil
}

type badCursor struct{ value string }

func (e *badCursor) Error() string { return fmt.Sprintf("stored cursor %q is not an index", e.value) }

func (cs *Cursors) load(name string) (uint64, bool, error) {
	e, err := kvGet(cs.c.cursors, cs.prefix+escape(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	v, perr := strconv.ParseUint(string(e.Value()), 10, 64)
	if perr != nil || v == 0 {
		return 0, false, &badCursor{string(e.Value())}
	}
	return v, true, nil
}

// Load reads name's stored cursor, trying for a few seconds when JetStream
// does not answer. A cursor that cannot be read is reported as absent; the
// relay then replays from the oldest record (duplicates, never a skip).
func (cs *Cursors) Load(name string) (uint64, bool) {
	var v uint64
	var ok bool
	notBad := func(err error) bool {
		var bad *badCursor
		return !errors.As(err, &bad)
	}
	err := retryFor(3*opTimeout, 200*time.Millisecond, notBad, func(context.Context) (err error) {
		v, ok, err = cs.load(name)
		return err
	})
	if err != nil {
		cs.c.logger.Error("cannot read a stored cursor", "backend", name, "err", err)
	}
	return v, ok
}

// Store stores name's cursor.
func (cs *Cursors) Store(name string, index uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, err := cs.c.cursors.Put(ctx, cs.prefix+escape(name), strconv.AppendUint(nil, index, 10))
	if err == nil {
		cs.mu.Lock()
		delete(cs.damaged, name)
		cs.mu.Unlock()
	}
	return err
}

// Delete forgets name's cursor, unless a node holds name's lease: while
// nodes run with different configs (a rolling change), the cursor of an
// output that this node no longer has is still another node's, and the
// purge of delivered records must go on counting it.
func (cs *Cursors) Delete(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := cs.c.leases.Get(ctx, cs.prefix+escape(name)); err == nil {
		cs.c.logger.Info("not forgetting the cursor of an output another node still delivers to", "backend", name)
		return nil
	}
	err := cs.c.cursors.Delete(ctx, cs.prefix+escape(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		err = nil
	}
	return err
}

func (cs *Cursors) names(ctx context.Context) ([]string, error) {
	lister, err := cs.c.cursors.ListKeysFiltered(ctx, cs.prefix+"*")
	if err != nil {
		return nil, err
	}
	var out []string
	for k := range lister.Keys() {
		if n, ok := unescape(strings.TrimPrefix(k, cs.prefix)); ok {
			out = append(out, n)
		}
	}
	// The lister has ended by itself; its Stop reports only that.
	_ = lister.Stop()
	return out, nil
}

// Names lists the backends with a stored cursor.
func (cs *Cursors) Names() []string {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	names, err := cs.names(ctx)
	if err != nil {
		cs.c.logger.Error("cannot list the stored cursors", "err", err)
	}
	return names
}

// Damaged names the cursors whose stored value is not an index.
func (cs *Cursors) Damaged() map[string]error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	out := make(map[string]error, len(cs.damaged))
	for k, v := range cs.damaged {
		out[k] = v
	}
	return out
}

// min is the lowest stored cursor; false when none is stored or one is
// unreadable (then nothing may be purged).
func (cs *Cursors) min(ctx context.Context) (uint64, bool, error) {
	names, err := cs.names(ctx)
	if err != nil || len(names) == 0 {
		return 0, false, err
	}
	low := uint64(0)
	for _, n := range names {
		v, ok, err := cs.load(n)
		if err != nil || !ok {
			return 0, false, nil
		}
		if low == 0 || v < low {
			low = v
		}
	}
	return low, true, nil
}

// The rest of a backend's delivery state (its divergence mark, its pending
// continuous-query backfill) is kept in the bucket <prefix>_state (created
// when first written) under
// <relay>.<backend>.<kind>, so that the node that takes a backend over
// carries it on as it does the cursor.

func (cs *Cursors) stateKey(backend, kind string) string {
	return cs.prefix + escape(backend) + "." + escape(kind)
}

// LoadState reads the backend's value of kind.
func (cs *Cursors) LoadState(backend, kind string) ([]byte, bool, error) {
	kv, err := cs.c.stateBucket(false)
	if err != nil || kv == nil {
		return nil, false, err
	}
	e, err := kvGet(kv, cs.stateKey(backend, kind))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return e.Value(), true, nil
}

// StoreState stores the backend's value of kind (on a quorum of the
// bucket's servers before it returns).
func (cs *Cursors) StoreState(backend, kind string, value []byte) error {
	kv, err := cs.c.stateBucket(true)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, err = kv.Put(ctx, cs.stateKey(backend, kind), value)
	return err
}

// DeleteState removes the backend's value of kind.
func (cs *Cursors) DeleteState(backend, kind string) error {
	kv, err := cs.c.stateBucket(false)
	if err != nil || kv == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	err = kv.Delete(ctx, cs.stateKey(backend, kind))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		err = nil
	}
	return err
}

// OpenState connects to NATS for the delivery state of the relay named
// relayName (its divergence marks), for a tool that runs beside the
// daemons (`influxgate resync`); close ends the connection.
func OpenState(store config.LogStoreConfig, relayName string, logger *slog.Logger) (st *Cursors, close func(), err error) {
	c, err := Connect(store, "tool", logger)
	if err != nil {
		return nil, nil, err
	}
	return &Cursors{c: c, prefix: escape(relayName) + ".", damaged: make(map[string]error)}, c.Close, nil
}
