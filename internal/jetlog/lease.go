package jetlog

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/influxgate/influxgate/internal/throttle"
)

// lease is one node's claim to deliver to one backend: a key in the
// <prefix>_leases bucket, whose entries expire lease-ttl after they were
// last written. Acquire creates the key (only one node's create can win);
// the holder renews it every third of the TTL with an update conditioned
// on its last revision (so that a node whose claim expired and was taken
// cannot renew it); a node that cannot renew for two thirds of the TTL
// stops delivering, a third of the TTL before anyone else can take over.
// Release deletes the key so that another node takes over at once.
type lease struct {
	c     *Conn
	key   string
	ttl   time.Duration
	quiet *throttle.Log

	mu     sync.Mutex
	held   bool
	rev    uint64
	ctx    context.Context // ends when the lease is lost or released
	cancel context.CancelFunc
	stop   chan struct{} // ends the renewer
	done   chan struct{}
}

func newLease(c *Conn, key string) *lease {
	return &lease{c: c, key: key, ttl: c.cfg.LeaseTTL, quiet: throttle.New(c.logger, 30*time.Second)}
}

// Acquire waits until this node holds the lease; the context it returns
// ends when the lease is lost or ctx ends.
func (l *lease) Acquire(ctx context.Context) (context.Context, error) {
	for {
		l.mu.Lock()
		if l.held {
			lctx := l.ctx
			l.mu.Unlock()
			return joined(ctx, lctx), nil
		}
		l.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		rev, err := l.c.leases.Create(cctx, l.key, []byte(l.c.node))
		cancel()
		if err == nil {
			l.mu.Lock()
			l.held, l.rev = true, rev
			l.ctx, l.cancel = context.WithCancel(context.Background())
			l.stop, l.done = make(chan struct{}), make(chan struct{})
			lctx := l.ctx
			go l.renew(l.stop, l.done, rev)
			l.mu.Unlock()
			return joined(ctx, lctx), nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
			l.quiet.Warn("lease:"+l.key, "cannot claim a backend's lease", "lease", l.key, "err", err)
		}
		// Another node holds it: try again a few times per TTL, with
		// jitter so that the standby nodes do not ask in step.
		d := l.ttl/6 + rand.N(l.ttl/6+1)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
	}
}

// joined returns a context that ends when either a or b does.
func joined(a, b context.Context) context.Context {
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	context.AfterFunc(ctx, func() { stop() })
	return ctx
}

func (l *lease) renew(stop, done chan struct{}, rev uint64) {
	defer close(done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
		r, err := l.c.leases.Update(ctx, l.key, []byte(l.c.node), rev)
		cancel()
		if err == nil {
			rev, lastOK = r, time.Now()
			l.mu.Lock()
			l.rev = r
			l.mu.Unlock()
			continue
		}
		var apiErr *jetstream.APIError
		taken := errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
		if taken || time.Since(lastOK) > l.ttl*2/3 {
			l.c.logger.Warn("lost a backend's lease", "lease", l.key, "err", err)
			l.mu.Lock()
			l.held = false
			l.cancel()
			l.mu.Unlock()
			return
		}
	}
}

// Held reports whether this node holds the lease now.
func (l *lease) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// Release gives the lease up.
func (l *lease) Release() {
	l.mu.Lock()
	if !l.held {
		l.mu.Unlock()
		return
	}
	l.held = false
	stop, done, rev := l.stop, l.done, l.rev
	l.cancel()
	l.mu.Unlock()
	close(stop)
	<-done
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := l.c.leases.Delete(ctx, l.key, jetstream.LastRevision(rev)); err != nil {
		l.c.logger.Warn("cannot release a lease; it expires on its own", "lease", l.key, "err", err)
	}
}
