package relay

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/backfill"
	"github.com/influxgate/influxgate/internal/record"
)

// fakeBackfiller records the backfills a worker runs; the first fails
// transiently when failFirst is set.
type fakeBackfiller struct {
	mu        sync.Mutex
	specs     []backfill.Spec
	failFirst bool
}

func (f *fakeBackfiller) Run(_ context.Context, s backfill.Spec) (backfill.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.specs = append(f.specs, s)
	if f.failFirst && len(f.specs) == 1 {
		return backfill.Result{}, errors.New("connection refused")
	}
	return backfill.Result{Statements: 1, Intervals: 3}, nil
}

func (f *fakeBackfiller) runs() []backfill.Spec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]backfill.Spec(nil), f.specs...)
}

func withBackfill(w *worker, log *memLog, runner backfiller) {
	w.cq = &cqBackfill{pending: backfill.NewPending(), runner: runner,
		appendRecord: func(rec *record.Record) (uint64, error) { return log.appendRecord(*rec), nil }}
}

// Records a backend receives late are noted; once it is caught up a
// backfill record addressed to it goes through the log, and running it
// recomputes the ranges they cover. Records that arrive on time add
// nothing.
func TestWorkerBackfillsAfterLateRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log, s, tr := &memLog{}, &fakeSender{}, newTracker()
		w := testWorker(t, log, s, &fakePeers{}, tr, workerConfig{})
		bf := &fakeBackfiller{failFirst: true}
		withBackfill(w, log, bf)
		late := testRecord("db", 0, 3)
		late.Received = time.Now().Add(-time.Minute).UnixNano()
		log.append(t, late)
		runWorker(t, w)
		time.Sleep(10 * time.Second) // the first run fails; the retry succeeds
		synctest.Wait()
		runs := bf.runs()
		// The failed run found the backend down, which adds the recent
		// past of what it received to a next backfill: a third run.
		if len(runs) != 3 {
			t.Fatalf("%d backfill runs, want 3 (a failed one, its retry, and the recent past of the failure)", len(runs))
		}
		want := backfill.Range{DB: "db", From: 0, To: 2}
		if len(runs[1].Ranges) != 1 || runs[1].Ranges[0] != want {
			t.Errorf("backfill of %+v, want %+v", runs[1].Ranges, want)
		}
		if st := w.cq.status(); st.State != "idle" || st.Runs != 2 || st.Failures != 1 {
			t.Errorf("status %+v", st)
		}
		if log.LastIndex() != 3 || w.next.Load() != 4 {
			t.Errorf("log %d records, cursor %d; want the backfill records logged and passed", log.LastIndex(), w.next.Load())
		}

		onTime := testRecord("db", 10, 1)
		log.append(t, onTime)
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(bf.runs()); n != 3 || log.LastIndex() != 4 {
			t.Errorf("a record delivered on time caused a backfill (%d runs, %d records)", n, log.LastIndex())
		}
	})
}

// A backend found down gets the recent past of what it received
// recomputed once it is back: it never ran its continuous queries over the
// interval in progress when it stopped, though it had those points.
func TestWorkerBackfillsTheIntervalInProgressWhenTheBackendStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log, tr := &memLog{}, newTracker()
		var down atomic.Bool
		s := &fakeSender{answer: func(int, *backend.Batch, *record.Record) backend.Result {
			if down.Load() {
				return backend.Classify(0, nil, nil, context.DeadlineExceeded)
			}
			return ok()
		}}
		w := testWorker(t, log, s, &fakePeers{}, tr, workerConfig{maxDelay: time.Second})
		bf := &fakeBackfiller{}
		withBackfill(w, log, bf)
		runWorker(t, w)
		log.append(t, testRecord("db", 0, 1)) // on time
		synctest.Wait()
		stopped := time.Now()
		down.Store(true)
		log.append(t, testRecord("other", 1, 1)) // found down delivering this
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		down.Store(false)
		time.Sleep(time.Minute)
		synctest.Wait()
		runs := bf.runs()
		// "other" is in the run too when its record arrived late (the
		// backoff's jitter decides); db's range is the one that matters.
		if len(runs) != 1 || len(runs[0].Ranges) == 0 || runs[0].Ranges[0].DB != "db" {
			t.Fatalf("backfill runs %+v, want one with a range for db", runs)
		}
		r := runs[0].Ranges[0]
		if r.DB != "db" || r.From > stopped.Add(-10*time.Second).UnixNano() || r.To < stopped.UnixNano() {
			t.Errorf("range %+v does not cover the 10 s before the backend stopped (%v)", r, stopped)
		}
	})
}
