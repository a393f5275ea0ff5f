package relay

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/influxgate/influxgate/internal/wal"
)

// The divergence mark of a backend — the time since which it misses
// records the overflow policy skipped — lives in a file,
// <relay dir>/diverged/<output>, holding that time in RFC 3339. A file
// survives restarts (a replica that misses data keeps saying so), and
// `influxgate resync`, running beside the daemon, clears the mark by
// deleting the file once it has copied the missing range; the daemon
// notices within a second.

func (w *worker) divergedPath() string {
	return filepath.Join(w.r.opts.Dir, "diverged", w.name)
}

// loadDiverged restores the mark at start.
func (w *worker) loadDiverged() {
	b, err := os.ReadFile(w.divergedPath())
	if err != nil {
		return
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil {
		t = time.Now() // unreadable: keep the mark rather than lose it
	}
	w.diverged.Store(t.UnixNano())
}

// markDiverged records the mark (once; the first skip is what counts).
func (w *worker) markDiverged(t time.Time) {
	if !w.diverged.CompareAndSwap(0, t.UnixNano()) {
		return
	}
	p := w.divergedPath()
	err := os.MkdirAll(filepath.Dir(p), 0o700)
	if err == nil {
		err = wal.WriteFileAtomic(p, []byte(t.UTC().Format(time.RFC3339Nano)+"\n"))
	}
	if err != nil {
		w.log.Error("cannot persist the divergence mark", "err", err)
	}
}

// checkDivergedCleared clears the mark when its file was deleted.
func (w *worker) checkDivergedCleared() {
	if w.diverged.Load() == 0 {
		return
	}
	if _, err := os.Stat(w.divergedPath()); errors.Is(err, os.ErrNotExist) {
		since := time.Unix(0, w.diverged.Swap(0)).UTC()
		w.log.Info("divergence mark cleared (a resync copied the missing data)", "was_diverged_since", since.Format(time.RFC3339))
	}
}
