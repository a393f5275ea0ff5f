package relay

import (
	"context"
	"strings"
	"time"
)

// noteAppend is called after every append: it wakes a worker in backoff
// whose backlog went over its drop-oldest cap.
func (w *worker) noteAppend(end int64) {
	if w.dropOldest && w.capBytes > 0 && end-w.nextOffset.Load() > w.capBytes {
		select {
		case w.overCap <- struct{}{}:
		default:
		}
	}
}

// backoffSleep waits d, or less when the backlog outgrows its cap
// (drop-oldest must act while the backend is down, not only between
// retries, or the backlog could overshoot the cap by the ingest rate times
// max-delay-interval).
func (w *worker) backoffSleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-w.overCap:
	}
}

// overCapacity reports whether the backlog has reached the cap.
func (w *worker) overCapacity(end int64) bool {
	return w.capBytes > 0 && end-w.nextOffset.Load() >= w.capBytes
}

// enforceCap applies the drop-oldest overflow policy: when the backlog
// exceeds buffer-size-mb, the oldest records are skipped down to 90% of
// the cap, every skipped point is counted, and the backend is marked
// diverged. Records that cannot be decoded are counted as corrupt, as
// fill counts them.
func (w *worker) enforceCap(q []pending) []pending {
	end := w.source.EndOffset()
	if end-w.nextOffset.Load() <= w.capBytes {
		return q
	}
	target := end - w.capBytes*9/10
	var records, points uint64
	for len(q) > 0 && q[0].off < target {
		records++
		points += uint64(q[0].rec.Lines)
		q = q[1:]
	}
	for len(q) == 0 && w.reader.Offset() < target {
		entries, err := w.reader.Read(w.maxBatch)
		if err != nil || len(entries) == 0 {
			break
		}
		w.noteGaps()
		for _, e := range entries {
			rec, ok := w.decode(e)
			if !ok {
				continue
			}
			if e.Offset < target {
				records++
				points += uint64(rec.Lines)
				continue
			}
			q = append(q, pending{idx: e.Index, off: e.Offset, rec: rec, size: len(rec.Body)})
		}
	}
	w.advance(q)
	if records > 0 {
		w.count(&w.dropped, "overflow", points)
		w.markDiverged(time.Now())
		w.log.Warn("backlog over buffer-size-mb: skipped the oldest records; this replica now misses them",
			"records", records, "points", points, "cap_mb", w.capMB,
			"diverged_since", time.Unix(0, w.diverged.Load()).UTC().Format(time.RFC3339))
	}
	return q
}

// The divergence mark of a backend — the time since which it misses
// records the overflow policy skipped — is kept in the relay's state store
// (StateDiverged): a file, <relay dir>/diverged/<output>, holding that time
// in RFC 3339 with the local log; beside the cursors with a shared one. It
// survives restarts (a replica that misses data keeps saying so) and, with
// a shared log, the node that set it. `influxgate resync`, running beside
// the daemon, clears the mark by deleting it once it has copied the
// missing range; the daemon notices within a second.

// loadDiverged sets the mark from the store: at start, and when this node
// takes the backend over from another.
func (w *worker) loadDiverged() {
	b, ok, err := w.store.LoadState(w.name, StateDiverged)
	if err != nil {
		// Unknown: keep what this node knows rather than lose a mark.
		w.log.Error("cannot read the divergence mark", "err", err)
		return
	}
	if !ok {
		w.diverged.Store(0)
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
	if err := w.store.StoreState(w.name, StateDiverged, []byte(t.UTC().Format(time.RFC3339Nano)+"\n")); err != nil {
		w.log.Error("cannot persist the divergence mark", "err", err)
	}
}

// checkDivergedCleared clears the mark when it was deleted from the store.
func (w *worker) checkDivergedCleared() {
	if w.diverged.Load() == 0 {
		return
	}
	if _, ok, err := w.store.LoadState(w.name, StateDiverged); err == nil && !ok {
		since := time.Unix(0, w.diverged.Swap(0)).UTC()
		w.log.Info("divergence mark cleared (a resync copied the missing data)", "was_diverged_since", since.Format(time.RFC3339))
	}
}
