package relay

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/backfill"
)

// fakeLease is a lease a test grants and revokes.
type fakeLease struct {
	mu      sync.Mutex
	held    bool
	granted chan struct{}
	cancel  context.CancelFunc
}

func newFakeLease() *fakeLease { return &fakeLease{granted: make(chan struct{})} }

func (l *fakeLease) Acquire(ctx context.Context) (context.Context, error) {
	l.mu.Lock()
	g := l.granted
	l.mu.Unlock()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-g:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lctx, cancel := context.WithCancel(ctx)
	l.held, l.cancel = true, cancel
	return lctx, nil
}

func (l *fakeLease) grant() { close(l.granted) }

func (l *fakeLease) revoke() {
	l.mu.Lock()
	l.held = false
	l.granted = make(chan struct{})
	if l.cancel != nil {
		l.cancel()
	}
	l.mu.Unlock()
}

func (l *fakeLease) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

func (l *fakeLease) Release() { l.revoke() }

// fakeShared records what a worker publishes.
type fakeShared struct {
	mu       sync.Mutex
	verdicts map[uint64]backend.Class
}

func (s *fakeShared) Node() string                     { return "this" }
func (s *fakeShared) Lease(string) Lease               { return nil }
func (s *fakeShared) PublishState(string, RemoteState) {}
func (s *fakeShared) OffsetOf(idx uint64) int64        { return int64(idx) }
func (s *fakeShared) Subscribe(SharedHandler) (func(), error) {
	return func() {}, nil
}

func (s *fakeShared) PublishVerdict(_ string, idx uint64, res *backend.Result) {
	s.mu.Lock()
	s.verdicts[idx] = res.Class
	s.mu.Unlock()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStandbyWorkerDeliversOnlyWhileItHoldsTheLease: a worker whose node
// does not hold the backend's lease sends nothing; once it holds it, it
// resumes from the stored cursor (not from where it was built), reports
// every verdict to the other nodes, and stops when the lease is lost.
func TestStandbyWorkerDeliversOnlyWhileItHoldsTheLease(t *testing.T) {
	log := &memLog{}
	for i := range 10 {
		log.append(t, testRecord("db", i*10, 1))
	}
	sender := &fakeSender{}
	tr := newTracker()
	w := testWorker(t, log, sender, &fakePeers{}, tr, workerConfig{})
	lease := newFakeLease()
	shared := &fakeShared{verdicts: map[uint64]backend.Class{}}
	w.lease, w.node = lease, "this"
	w.resume = func() uint64 { return 4 } // the previous deliverer stored 4
	w.verdicts = sharedVerdicts{tracker: tr, shared: shared, name: w.name}
	w.standby.Store(true)
	runWorker(t, w)

	time.Sleep(100 * time.Millisecond)
	if n := len(sender.requests()); n != 0 {
		t.Fatalf("a standby worker sent %d requests", n)
	}
	lease.grant()
	waitFor(t, "delivery of records 4-10", func() bool { return w.next.Load() == 11 })
	if w.standby.Load() {
		t.Fatal("still standby while holding the lease")
	}
	got := sender.accepted()
	if strings.Contains(got, "m v=20 ") || !strings.HasPrefix(got, "m v=30 ") || !strings.Contains(got, "m v=90 ") {
		t.Fatalf("delivered %q; want records 4 to 10 (from the stored cursor)", got)
	}
	shared.mu.Lock()
	for idx := uint64(4); idx <= 10; idx++ {
		if shared.verdicts[idx] != backend.Accepted {
			t.Errorf("verdict on %d not published to the other nodes", idx)
		}
	}
	shared.mu.Unlock()
	if o, ok := tr.lookup(7); !ok || o.accepted != 1 {
		t.Errorf("the own tracker lacks the verdict on 7: %+v", o)
	}

	lease.revoke()
	waitFor(t, "standby after the lease was lost", func() bool { return w.standby.Load() })
	before := len(sender.requests())
	log.append(t, testRecord("db", 100, 1))
	time.Sleep(100 * time.Millisecond)
	if n := len(sender.requests()); n != before {
		t.Fatalf("delivered after losing the lease (%d requests, had %d)", n, before)
	}
}

// TestStandbyWorkerMirrorsTheDeliverer: the remote state moves a standby
// worker's state and cursor, and a deliverer that goes silent is shown down.
func TestStandbyWorkerMirrorsTheDeliverer(t *testing.T) {
	log := &memLog{}
	w := testWorker(t, log, &fakeSender{}, &fakePeers{}, newTracker(), workerConfig{})
	w.standby.Store(true)
	w.applyRemote(RemoteState{Node: "other", State: StateReplaying, Next: 3, LastError: "boom"}, 300)
	if w.State() != StateReplaying || w.next.Load() != 3 || w.nextOffset.Load() != 300 || w.deliverer != "other" {
		t.Fatalf("state %v next %d offset %d deliverer %q", w.State(), w.next.Load(), w.nextOffset.Load(), w.deliverer)
	}
	w.checkStandby(time.Now(), time.Minute)
	if w.State() != StateReplaying {
		t.Fatal("marked down although the deliverer reported just now")
	}
	w.checkStandby(time.Now().Add(2*time.Minute), time.Minute)
	if w.State() != StateDown {
		t.Fatal("not marked down after the deliverer went silent")
	}
}

// memState is a StateStore in memory: the state a shared log keeps beside
// its cursors, for every node alike.
type memState struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memState) LoadState(b, kind string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[b+"/"+kind]
	return v, ok, nil
}

func (s *memState) StoreState(b, kind string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[b+"/"+kind] = v
	return nil
}

func (s *memState) DeleteState(b, kind string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, b+"/"+kind)
	return nil
}

// TestTakeoverCarriesTheBackendsStateOn: the node that delivered to a
// backend before this one marked it diverged and noted points it received
// late (a replay that had not ended). The node that takes the lease over
// must show the mark and run the backfill of those points once the
// backend is caught up, although it never saw either happen.
func TestTakeoverCarriesTheBackendsStateOn(t *testing.T) {
	log := &memLog{}
	log.append(t, testRecord("db", 0, 1))
	sender := &fakeSender{}
	w := testWorker(t, log, sender, &fakePeers{}, newTracker(), workerConfig{})
	bf := &fakeBackfiller{}
	withBackfill(w, log, bf)
	store := &memState{m: map[string][]byte{}}
	w.store = store
	lease := newFakeLease()
	w.lease, w.node = lease, "this"
	w.resume = func() uint64 { return 1 }
	w.standby.Store(true)

	// What the previous deliverer stored beside its cursor.
	since := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	store.StoreState(w.name, StateDiverged, []byte(since.Format(time.RFC3339Nano)+"\n"))
	prev := backfill.NewPending()
	prev.AddSpan("db", "rp", 100, 200)
	data, _ := prev.Changed()
	store.StoreState(w.name, StateBackfill, data)

	runWorker(t, w)
	lease.grant()
	waitFor(t, "the backfill the previous deliverer left", func() bool { return len(bf.runs()) == 1 })
	if got := w.diverged.Load(); got != since.UnixNano() {
		t.Errorf("divergence mark %v after the takeover, want %v", time.Unix(0, got).UTC(), since)
	}
	want := backfill.Range{DB: "db", RP: "rp", From: 100, To: 200}
	if r := bf.runs()[0].Ranges; len(r) != 1 || r[0] != want {
		t.Errorf("backfill of %+v, want %+v", r, want)
	}

	// A resync clears the mark in the store; the deliverer follows.
	store.DeleteState(w.name, StateDiverged)
	w.checkDivergedCleared()
	if w.diverged.Load() != 0 {
		t.Error("mark kept after it was deleted from the store")
	}
}
