package relay

import (
	"context"
	"math/rand/v2"
	"time"
)

const (
	backoffBase = 500 * time.Millisecond
	// maxRetryAfter caps a server's Retry-After so that a hostile or broken
	// value cannot park a backend for days.
	maxRetryAfter = 10 * time.Minute
)

// backoff returns the wait before retry number attempt (0-based): 500 ms
// doubling up to max, with "equal jitter" (half fixed, half random) so that
// many influxgate nodes do not retry in lockstep; a server's Retry-After is
// honoured when it asks for longer.
func backoff(attempt int, max, retryAfter time.Duration) time.Duration {
	d := backoffBase
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	d = d/2 + rand.N(d/2+1)
	if retryAfter > maxRetryAfter {
		retryAfter = maxRetryAfter
	}
	if retryAfter > d {
		d = retryAfter
	}
	return d
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
