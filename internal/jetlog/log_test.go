package jetlog

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/testnats"
)

func storeConfig(urls []string, replicas int) config.LogStoreConfig {
	return config.LogStoreConfig{Engine: "nats", URLs: urls, StreamReplicas: replicas,
		StreamPrefix: "t", LeaseTTL: time.Second}
}

// openLog opens relay name's log as node.
func openLog(t *testing.T, cfg config.LogStoreConfig, node, name string) *Log {
	t.Helper()
	c, err := Connect(cfg, node, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(c, name)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestAppendReadInOrderFromTwoNodes(t *testing.T) {
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	cfg := storeConfig(nc.URLs(), 1)
	a := openLog(t, cfg, "a", "http/shard:1")
	b := openLog(t, cfg, "b", "http/shard:1")
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := a
			if i%2 == 1 {
				l = b
			}
			if _, err := l.Append(fmt.Appendf(nil, "rec %d", i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rd, err := b.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	seen := map[string]bool{}
	next := uint64(1)
	deadline := time.Now().Add(10 * time.Second)
	for len(seen) < 200 && time.Now().Before(deadline) {
		es, err := rd.Read(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Index != next {
				t.Fatalf("index %d, want %d", e.Index, next)
			}
			next++
			seen[string(e.Data)] = true
		}
		if len(es) == 0 {
			select {
			case <-b.Notify(rd.Next() - 1):
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if len(seen) != 200 {
		t.Fatalf("read %d distinct records, want 200", len(seen))
	}
	if g := rd.Gaps(); len(g) != 0 {
		t.Fatalf("gaps %v", g)
	}
	// Seek back and read one record again.
	if err := rd.Seek(7); err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(deadline) {
		es, _ := rd.Read(1)
		if len(es) > 0 {
			if es[0].Index != 7 {
				t.Fatalf("after Seek(7) read %d", es[0].Index)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCursorsAndTruncation(t *testing.T) {
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	cfg := storeConfig(nc.URLs(), 1)
	a := openLog(t, cfg, "a", "h")
	for range 10 {
		if _, err := a.Append([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.cursors.Store("b1:8086", 4); err != nil {
		t.Fatal(err)
	}
	if err := a.cursors.Store("b2", 9); err != nil {
		t.Fatal(err)
	}
	b := openLog(t, cfg, "b", "h")
	if v, ok := b.cursors.Load("b1:8086"); !ok || v != 4 {
		t.Fatalf("Load on another node = %d %v, want 4", v, ok)
	}
	if err := b.TruncateFront(0); err != nil {
		t.Fatal(err)
	}
	if err := b.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f := b.FirstIndex(); f != 4 {
		t.Fatalf("after truncation FirstIndex = %d, want 4 (the lowest cursor)", f)
	}
	names := b.cursors.Names()
	if len(names) != 2 {
		t.Fatalf("Names = %v", names)
	}
}

func TestLeaseIsExclusiveAndMovesOnRelease(t *testing.T) {
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	cfg := storeConfig(nc.URLs(), 1)
	a := openLog(t, cfg, "a", "h")
	b := openLog(t, cfg, "b", "h")
	ctx := context.Background()
	la, lb := a.Lease("out"), b.Lease("out")
	actx, err := la.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan time.Time, 1)
	go func() {
		if _, err := lb.Acquire(ctx); err == nil {
			got <- time.Now()
		}
	}()
	select {
	case <-got:
		t.Fatal("two nodes hold the lease")
	case <-time.After(3 * time.Second): // three TTLs: a renews it
	}
	released := time.Now()
	la.Release()
	select {
	case at := <-got:
		t.Logf("taken over %v after release", at.Sub(released))
	case <-time.After(2 * time.Second):
		t.Fatal("not taken over after release")
	}
	if actx.Err() == nil {
		t.Fatal("released lease's context still alive")
	}
	if la.Held() || !lb.Held() {
		t.Fatal("Held is wrong")
	}
	// b dies without releasing: a takes over once the entry expires.
	b.Close()
	start := time.Now()
	if _, err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("taken over %v after the holder stopped renewing (ttl 1s)", time.Since(start))
}

type handler struct {
	mu       sync.Mutex
	verdicts map[uint64]backend.Result
	states   []relay.RemoteState
}

func (h *handler) RemoteVerdict(name string, idx uint64, res *backend.Result) {
	h.mu.Lock()
	h.verdicts[idx] = *res
	h.mu.Unlock()
}

func (h *handler) RemoteState(name string, st relay.RemoteState) {
	h.mu.Lock()
	h.states = append(h.states, st)
	h.mu.Unlock()
}

func TestVerdictsReachTheOtherNode(t *testing.T) {
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	cfg := storeConfig(nc.URLs(), 1)
	a := openLog(t, cfg, "a", "h")
	b := openLog(t, cfg, "b", "h")
	h := &handler{verdicts: map[uint64]backend.Result{}}
	stop, err := b.Subscribe(h)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	own := &handler{verdicts: map[uint64]backend.Result{}}
	stopOwn, _ := a.Subscribe(own)
	defer stopOwn()
	for i := range 1000 {
		a.PublishVerdict("out", uint64(i+1), &backend.Result{Class: backend.Accepted, Status: 204})
	}
	a.PublishVerdict("out", 1001, &backend.Result{Class: backend.Rejected, Status: 400, Body: []byte(`{"error":"bad"}`)})
	a.PublishState("out", relay.RemoteState{Node: "a", State: relay.StateDown, Next: 5})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		n, ns := len(h.verdicts), len(h.states)
		h.mu.Unlock()
		if n == 1001 && ns == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.verdicts) != 1001 || h.verdicts[1001].Status != 400 || string(h.verdicts[1001].Body) != `{"error":"bad"}` {
		t.Fatalf("got %d verdicts; 1001: %+v", len(h.verdicts), h.verdicts[1001])
	}
	if len(h.states) != 1 || h.states[0].State != relay.StateDown || h.states[0].Next != 5 {
		t.Fatalf("states %+v", h.states)
	}
	if len(own.verdicts) != 0 {
		t.Fatal("a node hears its own verdicts")
	}
}

func TestEscape(t *testing.T) {
	for _, s := range []string{"a", "10.0.0.1:8086", "h/s=1", "ü"} {
		e := escape(s)
		back, ok := unescape(e)
		if !ok || back != s {
			t.Fatalf("%q -> %q -> %q", s, e, back)
		}
	}
}

func TestConnectErrorHidesPasswords(t *testing.T) {
	cfg := storeConfig([]string{"nats://user:s3cret@127.0.0.1:1"}, 1)
	_, err := Connect(cfg, "a", nil)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Connect error = %v; want one without the password", err)
	}
}

// TestReadWaitsForARecordTheLogKnows: right after an append the record is
// known (LastIndex) but the reader's consumer has not delivered it yet; Read
// waits for it rather than return nothing, which made an idle worker spin
// between Notify (the record exists) and Read (not here yet).
func TestReadWaitsForARecordTheLogKnows(t *testing.T) {
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	l := openLog(t, storeConfig(nc.URLs(), 1), "a", "h")
	rd, _ := l.NewReader(1)
	defer rd.Close()
	if es, err := rd.Read(1 << 20); err != nil || len(es) != 0 {
		t.Fatalf("empty log: %v %v", es, err)
	}
	empty := 0
	for i := range 50 {
		if _, err := l.Append([]byte("x")); err != nil {
			t.Fatal(err)
		}
		es, err := rd.Read(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			empty++
			continue
		}
		if es[len(es)-1].Index != uint64(i+1) {
			t.Fatalf("read up to %d after appending %d", es[len(es)-1].Index, i+1)
		}
	}
	if empty > 0 {
		t.Fatalf("%d of 50 reads right after an append returned nothing", empty)
	}
}

// A node that starts while the cursor bucket has no quorum (two servers of
// three just lost) waits for it, as it waits for the buckets themselves,
// rather than fail its start after one request's timeout.
func TestCursorsAreReadOnceTheBucketHasAQuorumAgain(t *testing.T) {
	nc := testnats.Start(t, testnats.Options{Servers: 3})
	cfg := storeConfig(nc.URLs(), 3)
	a := openLog(t, cfg, "a", "h")
	if err := a.cursors.Store("b1", 4); err != nil {
		t.Fatal(err)
	}
	c, err := Connect(cfg, "b", slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nc.Servers[1].Kill(t)
	nc.Servers[2].Kill(t)
	type opened struct {
		cs  *Cursors
		err error
	}
	done := make(chan opened, 1)
	start := time.Now()
	go func() {
		cs, err := openCursors(c, "h")
		done <- opened{cs, err}
	}()
	select {
	case o := <-done:
		t.Fatalf("cursors opened without a quorum after %v: %v", time.Since(start).Round(time.Millisecond), o.err)
	case <-time.After(2*opTimeout + time.Second):
	}
	nc.Servers[1].Restart(t)
	nc.Servers[2].Restart(t)
	o := <-done
	if o.err != nil {
		t.Fatalf("cursors after the quorum came back (%v after the start): %v", time.Since(start).Round(time.Millisecond), o.err)
	}
	if v, ok := o.cs.Load("b1"); !ok || v != 4 {
		t.Fatalf("Load = %d %v, want 4", v, ok)
	}
	t.Logf("cursors read %v after the start", time.Since(start).Round(time.Millisecond))
}
