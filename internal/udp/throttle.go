package udp

import (
	"log/slog"
	"sync"
	"time"
)

// throttleEvery is the shortest time between two log lines about the same
// problem: a UDP flood of bad lines must not become a flood of log lines.
const throttleEvery = 10 * time.Second

// throttle logs at most one line per key every throttleEvery and says how
// many it suppressed in between.
type throttle struct {
	log   *slog.Logger
	mu    sync.Mutex
	last  map[string]time.Time
	quiet map[string]int
}

func newThrottle(log *slog.Logger) *throttle {
	return &throttle{log: log, last: map[string]time.Time{}, quiet: map[string]int{}}
}

func (t *throttle) warn(key, msg string, args ...any) {
	t.mu.Lock()
	now := time.Now()
	if last, ok := t.last[key]; ok && now.Sub(last) < throttleEvery {
		t.quiet[key]++
		t.mu.Unlock()
		return
	}
	suppressed := t.quiet[key]
	t.last[key], t.quiet[key] = now, 0
	t.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed_since_last", suppressed)
	}
	t.log.Warn(msg, args...)
}
