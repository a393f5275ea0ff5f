package relay

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/record"
)

// These tests run one delivery worker alone: the log is a memLog, the
// backend a fakeSender, and time is synctest's, so backoff and timeouts
// are checked exactly and without waiting.

func TestWorkerDeliversInOrderMergingRecordsIntoBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log, s, tr := &memLog{}, &fakeSender{}, newTracker()
		w := testWorker(t, log, s, &fakePeers{}, tr, workerConfig{maxBatch: 300})
		var want strings.Builder
		for i := 0; i < 20; i++ {
			rec := testRecord("db", i*10, 10)
			want.Write(rec.Body)
			log.append(t, rec)
		}
		runWorker(t, w)
		synctest.Wait()

		if got := s.accepted(); got != want.String() {
			t.Fatalf("backend received, in this order:\n%s\nwant:\n%s", got, want.String())
		}
		reqs := s.requests()
		if len(reqs) < 2 || len(reqs) >= 20 {
			t.Errorf("%d requests for 20 records: want them merged into batches of at most max-batch", len(reqs))
		}
		for _, r := range reqs {
			// A single record may exceed max-batch; merged ones may not.
			if len(r.body) > 300 && strings.Count(r.body, "\n") > 10 {
				t.Errorf("a merged batch of %d bytes exceeds max-batch 300", len(r.body))
			}
		}
		if got := w.next.Load(); got != 21 {
			t.Errorf("cursor = %d, want 21", got)
		}
		if got := w.delivered.Load(); got != 200 {
			t.Errorf("delivered = %d points, want 200", got)
		}
		if o, _ := tr.lookup(20); o.accepted != w.bit {
			t.Errorf("verdict on the last record = %+v, want accepted by the worker", o)
		}
		if w.State() != StateLive {
			t.Errorf("state = %s, want live", w.State())
		}
	})
}

func TestWorkerBacksOffWithJitterAndHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log, tr := &memLog{}, newTracker()
		s := &fakeSender{answer: func(n int, _ *backend.Batch, _ *record.Record) backend.Result {
			switch n {
			case 0, 1, 2:
				return answer(http.StatusServiceUnavailable, "overloaded")
			case 3:
				return answer(http.StatusTooManyRequests, "slow down", "Retry-After", "7")
			}
			return ok()
		}}
		w := testWorker(t, log, s, &fakePeers{}, tr, workerConfig{maxDelay: 10 * time.Second})
		rec := testRecord("db", 0, 3)
		log.append(t, rec)
		runWorker(t, w)
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if w.State() != StateDown {
			t.Fatalf("state after a 503 = %s, want down", w.State())
		}
		time.Sleep(time.Minute)
		synctest.Wait()

		reqs := s.requests()
		if len(reqs) != 5 || s.accepted() != string(rec.Body) {
			t.Fatalf("%d requests, accepted %q; want 5 requests and the record delivered once", len(reqs), s.accepted())
		}
		// Backoff: 500 ms doubling, half of it jitter; then Retry-After.
		bounds := [][2]time.Duration{{250 * time.Millisecond, 500 * time.Millisecond},
			{500 * time.Millisecond, time.Second}, {time.Second, 2 * time.Second}, {7 * time.Second, 8 * time.Second}}
		for i, b := range bounds {
			gap := reqs[i+1].at.Sub(reqs[i].at)
			if gap < b[0] || gap > b[1] {
				t.Errorf("wait before retry %d = %v, want within [%v, %v]", i+1, gap, b[0], b[1])
			}
		}
		if w.retries.Load() != 4 {
			t.Errorf("retries = %d, want 4", w.retries.Load())
		}
		if w.State() == StateDown {
			t.Errorf("state after delivery = %s", w.State())
		}
	})
}

func TestWorkerSplitsOnTooLargeUntilEveryLineIsDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log, tr := &memLog{}, newTracker()
		// The backend takes at most 5 lines a request.
		s := &fakeSender{answer: func(_ int, b *backend.Batch, _ *record.Record) backend.Result {
			lines := 0
			for _, p := range b.Bodies {
				lines += strings.Count(string(p), "\n")
			}
			if lines > 5 {
				return answer(http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			}
			return ok()
		}}
		w := testWorker(t, log, s, &fakePeers{}, tr, workerConfig{})
		var want strings.Builder
		for i, n := range []int{3, 17, 2, 9} {
			rec := testRecord("db", i*100, n)
			want.Write(rec.Body)
			log.append(t, rec)
		}
		runWorker(t, w)
		synctest.Wait()
		if got := s.accepted(); got != want.String() {
			t.Fatalf("accepted, in order:\n%s\nwant every line once, in order:\n%s", got, want.String())
		}
		if w.delivered.Load() != 31 || w.next.Load() != 5 {
			t.Errorf("delivered %d points, cursor %d; want 31 and 5", w.delivered.Load(), w.next.Load())
		}
	})
}

func TestWorkerDropsBadDataAndGoesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log, tr := &memLog{}, newTracker()
		s := &fakeSender{answer: func(_ int, b *backend.Batch, _ *record.Record) backend.Result {
			for _, p := range b.Bodies {
				if strings.Contains(string(p), "v=100 ") {
					return answer(http.StatusBadRequest, "partial write: field type conflict: dropped=1")
				}
			}
			return ok()
		}}
		w := testWorker(t, log, s, &fakePeers{}, tr, workerConfig{})
		a, bad, c := testRecord("db", 0, 2), testRecord("db", 100, 2), testRecord("db", 200, 2)
		for _, r := range []record.Record{a, bad, c} {
			log.append(t, r)
		}
		runWorker(t, w)
		synctest.Wait()
		if got, want := s.accepted(), string(a.Body)+string(c.Body); got != want {
			t.Fatalf("accepted %q, want %q", got, want)
		}
		if got := w.counts().rejected["type_conflict"]; got != 2 {
			t.Errorf("rejected points = %v, want type_conflict: 2", w.counts().rejected)
		}
		if o, _ := tr.lookup(2); o.rejected != w.bit || o.status != http.StatusBadRequest {
			t.Errorf("verdict on the bad record = %+v, want a 400 refusal", o)
		}
		if w.next.Load() != 4 {
			t.Errorf("cursor = %d, want 4: a refusal must not stop the backend", w.next.Load())
		}
	})
}

func TestWorkerRefusalOnlyThisReplicaGives(t *testing.T) {
	const self, other uint64 = 1, 2
	dbMissing := func(n int, b *backend.Batch, _ *record.Record) backend.Result {
		if b.DB == "gone" {
			return answer(http.StatusNotFound, `database not found: "gone"`)
		}
		return ok()
	}
	t.Run("another replica accepted: retried, then dead-lettered", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			log, tr, s := &memLog{}, newTracker(), &fakeSender{answer: dbMissing}
			w := testWorker(t, log, s, &fakePeers{othersMask: other, liveMask: self | other}, tr,
				workerConfig{deadLetterAfter: 10 * time.Second, maxDelay: 2 * time.Second})
			idx := log.append(t, testRecord("gone", 0, 1))
			tr.report(idx, other, &backend.Result{Class: backend.Accepted, Status: 204})
			log.append(t, testRecord("db", 10, 1))
			start := time.Now()
			runWorker(t, w)
			synctest.Wait()
			if w.deadLetters.Load() != 0 {
				t.Fatalf("dead-lettered at once; want retries for dead-letter-after first")
			}
			time.Sleep(time.Minute)
			synctest.Wait()
			if w.deadLetters.Load() != 1 {
				t.Fatalf("dead letters = %d, want 1", w.deadLetters.Load())
			}
			reqs := s.requests()
			last := reqs[len(reqs)-1]
			if !strings.Contains(last.body, "v=10 ") || last.res.Class != backend.Accepted {
				t.Errorf("the record after the refused one was not delivered: %+v", last)
			}
			// Retried until dead-letter-after, then moved on.
			var lastRefusal time.Time
			for _, r := range reqs {
				if r.res.Class == backend.Mismatch {
					lastRefusal = r.at
				}
			}
			if d := lastRefusal.Sub(start); d != 10*time.Second {
				t.Errorf("refused record retried for %v, want dead-letter-after (10s)", d)
			}
			// The next record for the missing database is tried once (the
			// database may exist by now) and goes to the store without
			// the retries.
			// Counted before the append: the worker may take the record
			// at once, before this goroutine reads the count.
			before, at := len(s.requests()), time.Now()
			log.append(t, testRecord("gone", 20, 1))
			synctest.Wait()
			if w.deadLetters.Load() != 2 || len(s.requests()) != before+1 || time.Since(at) != 0 {
				t.Errorf("second record for the missing database: %d dead letters, %d new requests, after %v; want 2, 1, at once",
					w.deadLetters.Load(), len(s.requests())-before, time.Since(at))
			}
		})
	})
	t.Run("every replica refused: dropped as unanimous", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			log, tr, s := &memLog{}, newTracker(), &fakeSender{answer: dbMissing}
			w := testWorker(t, log, s, &fakePeers{othersMask: other, liveMask: self | other}, tr, workerConfig{})
			idx := log.append(t, testRecord("gone", 0, 3))
			tr.report(idx, other, &backend.Result{Class: backend.Mismatch, Status: 404})
			runWorker(t, w)
			synctest.Wait()
			if w.deadLetters.Load() != 0 || w.counts().rejected["db_not_found"] != 3 || w.next.Load() != 2 {
				t.Errorf("dead letters %d, rejected %v, cursor %d; want 0, db_not_found: 3, 2",
					w.deadLetters.Load(), w.counts().rejected, w.next.Load())
			}
		})
	})
	t.Run("no other replica answered: dead-lettered at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			log, tr, s := &memLog{}, newTracker(), &fakeSender{answer: dbMissing}
			w := testWorker(t, log, s, &fakePeers{othersMask: other, liveMask: self}, tr, workerConfig{})
			log.append(t, testRecord("gone", 0, 1))
			start := time.Now()
			runWorker(t, w)
			synctest.Wait()
			if w.deadLetters.Load() != 1 || time.Since(start) > 0 {
				t.Errorf("dead letters %d after %v; want 1 at once", w.deadLetters.Load(), time.Since(start))
			}
		})
	})
}

func TestWorkerDropOldestKeepsTheBacklogUnderItsCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log, tr := &memLog{}, newTracker()
		var down atomic.Bool
		down.Store(true)
		s := &fakeSender{answer: func(int, *backend.Batch, *record.Record) backend.Result {
			if down.Load() {
				return backend.Classify(0, nil, nil, context.DeadlineExceeded)
			}
			return ok()
		}}
		const capBytes = 4 << 10
		w := testWorker(t, log, s, &fakePeers{}, tr, workerConfig{capBytes: capBytes, capMB: 1, dropOldest: true,
			maxDelay: time.Hour})
		runWorker(t, w)
		var all []record.Record
		for i := 0; i < 100; i++ {
			rec := testRecord("db", i*10, 10)
			all = append(all, rec)
			log.append(t, rec)
			w.noteAppend(log.EndOffset())
			synctest.Wait()
			if backlog := log.EndOffset() - w.nextOffset.Load(); backlog > capBytes {
				t.Fatalf("after record %d the backlog is %d bytes, over the %d byte cap, while the backend is down",
					i+1, backlog, capBytes)
			}
		}
		if w.diverged.Load() == 0 {
			t.Error("no divergence mark after dropping records")
		}
		if _, err := os.Stat(w.store.(FileState).Path(w.name, StateDiverged)); err != nil {
			t.Errorf("divergence mark not persisted: %v", err)
		}
		down.Store(false)
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		// What arrives is the newest records, whole and in order, and the
		// dropped points are counted: together they make every point.
		got := s.accepted()
		var tailWant strings.Builder
		kept := strings.Count(got, "\n")
		for _, rec := range all {
			tailWant.Write(rec.Body)
		}
		if !strings.HasSuffix(tailWant.String(), got) || kept == 0 {
			t.Fatalf("delivered %d lines that are not the newest records in order", kept)
		}
		if dropped := w.counts().dropped["overflow"]; dropped+uint64(kept) != 1000 {
			t.Errorf("dropped %d + delivered %d points = %d, want 1000", dropped, kept, dropped+uint64(kept))
		}
	})
}
