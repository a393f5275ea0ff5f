package relay

import (
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/record"
)

const (
	bA uint64 = 1 << iota
	bB
	bC
)

func TestDecide(t *testing.T) {
	refusal := func(o outcome) outcome {
		o.status, o.body = 404, []byte(`{"error":"database not found: \"x\""}`)
		return o
	}
	cases := []struct {
		name     string
		o        outcome
		all      uint64
		live     uint64
		c        Consistency
		timedOut bool
		done     bool
		status   int
	}{
		{"any: nothing yet", outcome{}, bA | bB, bA | bB, Any, false, false, 0},
		{"any: first 2xx answers", outcome{accepted: bA}, bA | bB, bA | bB, Any, false, true, 204},
		{"any: one refusal waits for the other", refusal(outcome{rejected: bA}), bA | bB, bA | bB, Any, false, false, 0},
		{"any: refusal + accept is 204", refusal(outcome{rejected: bA, accepted: bB}), bA | bB, bA | bB, Any, false, true, 204},
		{"any: every live backend refused", refusal(outcome{rejected: bA | bB}), bA | bB, bA | bB, Any, false, true, 404},
		{"any: refusal, other failed", refusal(outcome{rejected: bA, failed: bB}), bA | bB, bA | bB, Any, false, true, 404},
		{"any: all failed is durable 204", outcome{failed: bA | bB}, bA | bB, bA | bB, Any, false, true, 204},
		{"any: down backend not awaited", refusal(outcome{rejected: bA}), bA | bB, bA, Any, false, true, 404},
		{"any: no live backend", outcome{}, bA | bB, 0, Any, false, true, 204},
		{"any: timeout with refusal", refusal(outcome{rejected: bA}), bA | bB, bA | bB, Any, true, true, 404},
		{"any: timeout silent", outcome{}, bA | bB, bA | bB, Any, true, true, 204},
		{"one: failures wait", outcome{failed: bA | bB}, bA | bB, bA | bB, One, false, false, 0},
		{"one: timeout is 503", outcome{failed: bA | bB}, bA | bB, bA | bB, One, true, true, 503},
		{"one: accept", outcome{accepted: bB}, bA | bB, bA | bB, One, false, true, 204},
		{"one: all refused", refusal(outcome{rejected: bA | bB}), bA | bB, bA | bB, One, false, true, 404},
		{"one: refused + silent waits", refusal(outcome{rejected: bA}), bA | bB, bA | bB, One, false, false, 0},
		{"one: refused + silent at timeout", refusal(outcome{rejected: bA}), bA | bB, bA | bB, One, true, true, 404},
		{"quorum: 1 of 3 waits", outcome{accepted: bA}, bA | bB | bC, bA | bB | bC, Quorum, false, false, 0},
		{"quorum: 2 of 3", outcome{accepted: bA | bC}, bA | bB | bC, bA | bB | bC, Quorum, false, true, 204},
		{"quorum: unreachable", refusal(outcome{accepted: bA, rejected: bB | bC}), bA | bB | bC, bA | bB | bC, Quorum, false, true, 404},
		{"quorum: timeout 1 of 3", outcome{accepted: bA}, bA | bB | bC, bA | bB | bC, Quorum, true, true, 503},
		{"all: one refusal ends it", refusal(outcome{accepted: bA, rejected: bB}), bA | bB, bA | bB, All, false, true, 404},
		{"all: both", outcome{accepted: bA | bB}, bA | bB, bA | bB, All, false, true, 204},
		{"all: replaying backend still counts", outcome{accepted: bA}, bA | bB, bA, All, false, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, done := decide(c.o, c.all, c.live, c.c, c.timedOut)
			if done != c.done || (done && a.Status != c.status) {
				t.Fatalf("decide = %d done=%v, want %d done=%v", a.Status, done, c.status, c.done)
			}
			if done && a.Status == 404 && a.Message() != `database not found: "x"` {
				t.Errorf("refusal body = %s", a.Body)
			}
		})
	}
}

func TestParseConsistency(t *testing.T) {
	for in, want := range map[string]Consistency{"": Quorum, "any": Any, "one": One, "quorum": Quorum, "all": All} {
		if got, err := ParseConsistency(in, Quorum); err != nil || got != want {
			t.Errorf("ParseConsistency(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseConsistency("bogus", Any); err == nil || err.Error() != "invalid consistency level" {
		t.Errorf("bogus: %v", err)
	}
}

func TestTrackerWaiterSeesEarlierAndLaterVerdicts(t *testing.T) {
	tr := newTracker()
	acc := backend.Result{Class: backend.Accepted, Status: 204}
	rej := backend.Result{Class: backend.Rejected, Status: 400, Body: []byte(`{"error":"bad"}`)}
	tr.report(7, bA, &rej) // before anyone waits
	w := tr.register(7)
	defer tr.unregister(w)
	if o := tr.snapshot(w); o.rejected != bA || o.status != 400 {
		t.Fatalf("earlier verdict lost: %+v", o)
	}
	tr.report(7, bB, &acc)
	select {
	case <-w.wake:
	default:
		t.Fatal("waiter not woken")
	}
	if o := tr.snapshot(w); o.accepted != bB {
		t.Fatalf("later verdict lost: %+v", o)
	}
	// A slot reused by a newer record forgets the old one.
	tr.report(7+ringSize, bA, &acc)
	if _, ok := tr.lookup(7); ok {
		t.Error("stale slot still answers for the old index")
	}
	// A transient failure after an accept does not undo it.
	tr.report(9, bA, &acc)
	tr.report(9, bA, &backend.Result{Class: backend.Transient})
	if o, _ := tr.lookup(9); o.accepted != bA || o.failed != 0 {
		t.Errorf("accept undone: %+v", o)
	}
}

// Backoff runs on a fake clock: 500 ms doubling to the cap, with equal
// jitter, and Retry-After honoured when longer.
func TestBackoffSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		max := 10 * time.Second
		for attempt, base := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
			d := backoff(attempt, max, 0)
			if d < base/2 || d > base {
				t.Errorf("attempt %d: backoff %v outside [%v, %v]", attempt, d, base/2, base)
			}
			start := time.Now()
			if !sleep(t.Context(), d) {
				t.Fatal("sleep cut short")
			}
			if got := time.Since(start); got != d {
				t.Errorf("slept %v, want %v", got, d)
			}
		}
		if d := backoff(0, max, 30*time.Second); d != 30*time.Second {
			t.Errorf("Retry-After 30s: backoff %v", d)
		}
		if d := backoff(0, max, 48*time.Hour); d != maxRetryAfter {
			t.Errorf("Retry-After 48h: backoff %v, want the cap %v", d, maxRetryAfter)
		}
	})
}

func TestErrorAnswerShape(t *testing.T) {
	a := ErrorAnswer(http.StatusServiceUnavailable, "write log unavailable: %s", "disk full")
	if string(a.Body) != "{\"error\":\"write log unavailable: disk full\"}\n" || a.Message() != "write log unavailable: disk full" {
		t.Errorf("body %q message %q", a.Body, a.Message())
	}
}

func TestBatchLenStopsAfterAnOpenEndedBody(t *testing.T) {
	rec := func(flags uint8) pending {
		return pending{rec: record.Record{Kind: record.KindWrite, DB: "db", Flags: flags}, size: 10}
	}
	q := []pending{rec(0), rec(0), rec(record.FlagOpenEnd), rec(0), rec(0)}
	if n := batchLen(q, 1<<20); n != 3 {
		t.Errorf("batchLen = %d, want 3 (the open-ended body last)", n)
	}
	if n := batchLen(q[3:], 1<<20); n != 2 {
		t.Errorf("batchLen after it = %d, want 2", n)
	}
	if n := batchLen(q, 25); n != 2 {
		t.Errorf("batchLen within 25 bytes = %d, want 2", n)
	}
}

// A write's acceptance keeps no body in the verdict ring: one per record
// would pin megabytes (64 Ki slots) while a backend is down.
func TestAcceptedWritesKeepNoBody(t *testing.T) {
	tr := newTracker()
	tr.report(3, bA, &backend.Result{Class: backend.Accepted, Status: 204, Body: make([]byte, 0, 512)})
	if o, _ := tr.lookup(3); o.okBody != nil || o.okStatus != 0 {
		t.Errorf("a 204 left a body in the ring: %+v", o)
	}
	tr.report(4, bA, &backend.Result{Class: backend.Accepted, Status: 200, Body: []byte(`{"results":[{"statement_id":0}]}`)})
	if o, _ := tr.lookup(4); o.okStatus != 200 || len(o.okBody) == 0 {
		t.Errorf("a schema change's results were not kept: %+v", o)
	}
}

// A refusal's body is kept whole for a waiting client but cut in the ring,
// so bad data cannot pin 64 KiB per record for 64 Ki records.
func TestRingKeepsRefusalBodiesSmall(t *testing.T) {
	tr := newTracker()
	big := `{"error":"unable to parse '` + strings.Repeat("x", 60000) + `': missing fields"}`
	w := tr.register(5)
	tr.report(5, bA, &backend.Result{Class: backend.Rejected, Status: 400, Body: []byte(big)})
	if o := tr.snapshot(w); len(o.body) != len(big) {
		t.Errorf("the waiting client got %d bytes, want the whole %d", len(o.body), len(big))
	}
	tr.unregister(w)
	o, _ := tr.lookup(5)
	if len(o.body) > maxRingBody || o.status != 400 {
		t.Fatalf("ring keeps %d bytes (status %d)", len(o.body), o.status)
	}
	a := Answer{Status: o.status, Body: o.body}
	if !strings.HasPrefix(a.Message(), "unable to parse 'xxx") || !strings.HasSuffix(a.Message(), "(cut)") {
		t.Errorf("cut body is not a valid InfluxDB error: %q", o.body[:80])
	}
}
