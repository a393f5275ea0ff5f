package rebalance

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// throttled writes lines for the operator, at most one every so often:
// for the messages repeated while the rebalance waits for something.
type throttled struct {
	w     io.Writer
	every time.Duration

	mu   sync.Mutex
	last time.Time
}

func (t *throttled) printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := time.Now(); t.last.IsZero() || now.Sub(t.last) >= t.every {
		t.last = now
		fmt.Fprintf(t.w, format+"\n", args...)
	}
}

// reset lets the next message through at once.
func (t *throttled) reset() {
	t.mu.Lock()
	t.last = time.Time{}
	t.mu.Unlock()
}
