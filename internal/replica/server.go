package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
)

// Requests tune the requests Verify and Resync make to each backend.
type Requests struct {
	// QueryTimeout bounds one query; for the chunked SELECT that reads a
	// bucket, each wait for the server's next chunk (default 5m; a query
	// reads at most one window of buckets). Writes are bounded by the
	// output's timeout.
	QueryTimeout time.Duration
	// Attempts is how often a request that failed transiently (no answer,
	// an answer cut short, 5xx, 429) is tried in all (default 3).
	Attempts int
	// Backoff is the wait before the first retry; it doubles for each
	// further one (default 500ms).
	Backoff time.Duration
}

func (r *Requests) defaults() {
	if r.QueryTimeout <= 0 {
		r.QueryTimeout = 5 * time.Minute
	}
	if r.Attempts <= 0 {
		r.Attempts = 3
	}
	if r.Backoff <= 0 {
		r.Backoff = 500 * time.Millisecond
	}
}

// server is one backend as verify and resync reach it: its backend.Client,
// which builds and sends the requests, behind replica's retry policy
// (Requests) and a bound on the requests in flight to it. Its methods may
// be called from several goroutines.
type server struct {
	// Name is the output's name in the config.
	Name string
	c    *backend.Client
	req  Requests
	sem  chan struct{}
}

func newServer(c *backend.Client, concurrency int, req Requests) *server {
	return &server{Name: c.Name(), c: c, req: req, sem: make(chan struct{}, max(concurrency, 1))}
}

func newServers(cs []*backend.Client, concurrency int, req Requests) []*server {
	out := make([]*server, len(cs))
	for i, c := range cs {
		out[i] = newServer(c, concurrency, req)
	}
	return out
}

// String names the backend and its address for messages.
func (s *server) String() string { return s.c.String() }

// query runs one InfluxQL statement and returns its result.
func (s *server) query(ctx context.Context, db, q string) (res backend.QueryResult, err error) {
	err = s.do(ctx, s.req.QueryTimeout, func(ctx context.Context) (err error) {
		res, err = s.c.Query(ctx, db, q)
		return err
	})
	return res, err
}

// exec runs a statement that must succeed (CREATE, ALTER).
func (s *server) exec(ctx context.Context, q string) error {
	return s.do(ctx, s.req.QueryTimeout, func(ctx context.Context) error {
		return s.c.ExecStatement(ctx, "", q)
	})
}

// queryChunked runs one SELECT with a chunked answer and hands each series
// chunk to fn as it arrives. A failure part-way is tried again from the
// start (writing its rows again is harmless); an error of fn is not.
func (s *server) queryChunked(ctx context.Context, db, q string, chunkSize int, fn func(backend.Series) error) error {
	return s.do(ctx, 0, func(ctx context.Context) error {
		return s.c.QueryChunked(ctx, db, q, chunkSize, s.req.QueryTimeout, func(se backend.Series) error {
			if err := fn(se); err != nil {
				return errStop{err}
			}
			return nil
		})
	})
}

// write posts line protocol with nanosecond timestamps into db and rp.
func (s *server) write(ctx context.Context, db, rp string, body []byte) error {
	return s.do(ctx, 0, func(ctx context.Context) error {
		return s.c.WriteLines(ctx, db, rp, body)
	})
}

// errStop carries an error of the caller's callback through do, which
// must not retry it: a failed write to the target inside a chunked read of
// the source was retried already and is no reason to read again.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }

// do runs call, retrying transient failures (a *backend.Error that says so)
// with a doubling backoff. Each attempt holds one of the backend's
// concurrency slots and is bounded by timeout (0: by ctx only).
func (s *server) do(ctx context.Context, timeout time.Duration, call func(context.Context) error) error {
	wait := s.req.Backoff
	for attempt := 1; ; attempt++ {
		err := s.once(ctx, timeout, call)
		var stop errStop
		if errors.As(err, &stop) {
			return stop.err
		}
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		var be *backend.Error
		if err == nil || !errors.As(err, &be) || !be.Transient() || attempt >= s.req.Attempts {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}

func (s *server) once(ctx context.Context, timeout time.Duration, call func(context.Context) error) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.sem }()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return call(ctx)
}

// isNotFound reports whether err says that the database or retention
// policy asked about does not exist.
func isNotFound(err error) bool {
	var be *backend.Error
	return errors.As(err, &be) && (be.Reason == "db_not_found" || be.Reason == "rp_not_found")
}

// badAnswer is an answer whose content replica cannot use.
func (s *server) badAnswer(what string, err error) error {
	return fmt.Errorf("backend %s: %s: %w", s, what, err)
}
