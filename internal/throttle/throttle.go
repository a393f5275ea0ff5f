// Package throttle keeps a repeated log line down to one per key and
// period, and says in the next line how many it held back: a flood of bad
// writes or packets must not become a flood of log lines.
package throttle

import (
	"log/slog"
	"sync"
	"time"
)

// Log writes throttled warnings to a logger. It is safe for concurrent use.
type Log struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	last  map[string]time.Time
	quiet map[string]int
}

// New returns a Log that writes at most one line per key every period.
func New(log *slog.Logger, every time.Duration) *Log {
	return &Log{log: log, every: every, now: time.Now, last: map[string]time.Time{}, quiet: map[string]int{}}
}

// Warn logs msg with args at warning level, unless a line with the same key
// went out less than the period ago; the next line that does go out carries
// "suppressed_since_last" with the count held back.
func (t *Log) Warn(key, msg string, args ...any) {
	if n, ok := t.allow(key); ok {
		if n > 0 {
			args = append(args, "suppressed_since_last", n)
		}
		t.log.Warn(msg, args...)
	}
}

// allow reports whether a line for key may go out now, and how many were
// held back since the last one.
func (t *Log) allow(key string) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if last, ok := t.last[key]; ok && now.Sub(last) < t.every {
		t.quiet[key]++
		return 0, false
	}
	n := t.quiet[key]
	t.last[key], t.quiet[key] = now, 0
	return n, true
}
