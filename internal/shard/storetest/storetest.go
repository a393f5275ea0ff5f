// Package storetest checks that an implementation of shard.Store keeps
// the promises the daemon and influxgate rebalance rely on; each
// implementation's tests run it.
package storetest

import (
	"slices"
	"testing"

	"github.com/influxgate/influxgate/internal/shard"
)

// Run checks the Store that open returns; every call of open must return
// a view of the same stored state (a second process, a second node).
func Run(t *testing.T, open func(t *testing.T) shard.Store) {
	t.Helper()
	a, b := open(t), open(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	version := func(st shard.Store) shard.Version {
		t.Helper()
		v, err := st.Version()
		must(err)
		return v
	}

	if _, ok, err := a.Placement(); err != nil || ok {
		t.Fatalf("empty store: placement stored %v, %v", ok, err)
	}
	if m, err := a.Move(); err != nil || m != nil {
		t.Fatalf("empty store: move %+v, %v", m, err)
	}
	v0 := version(a)

	must(a.SetPlacement([]string{"s2", "s1"}))
	if p, ok, err := b.Placement(); err != nil || !ok || !slices.Equal(p, []string{"s1", "s2"}) {
		t.Fatalf("placement seen by another view: %v %v %v", p, ok, err)
	}
	v1 := version(b)
	if v1 == v0 {
		t.Fatal("the version did not change with the placement")
	}

	first, err := a.StartMove(shard.NewMove([]string{"s1", "s2"}, []string{"s1", "s2", "s3"}))
	must(err)
	// A second start (another node) gets the rebalance in force.
	got, err := b.StartMove(shard.NewMove([]string{"s1", "s2"}, []string{"s1", "s3"}))
	must(err)
	if !slices.Equal(got.To, first.To) || !got.Started.Equal(first.Started) {
		t.Fatalf("a second start replaced the rebalance in force: %+v, first %+v", got, first)
	}
	v2 := version(a)
	if v2 == v1 || v2.Covers(v1) {
		t.Fatalf("starting a rebalance: version %+v after %+v", v2, v1)
	}

	must(a.AddKey(shard.KeyEvent{Done: "db\x00m1"}))
	must(a.AddKey(shard.KeyEvent{Done: "db\x00m.2 with spaces"}))
	v3 := version(b)
	if !v3.Covers(v2) || v2.Covers(v3) {
		t.Fatalf("adding keys: version %+v after %+v", v3, v2)
	}
	must(b.AddKey(shard.KeyEvent{Cleared: "db\x00m1"}))
	done, cleared, err := a.MovedKeys()
	must(err)
	if len(done) != 2 || !done["db\x00m1"] || !done["db\x00m.2 with spaces"] || len(cleared) != 1 || !cleared["db\x00m1"] {
		t.Fatalf("moved keys: done %v, cleared %v", done, cleared)
	}

	m, err := b.Move()
	must(err)
	must(b.MarkFinishing(m))
	if m2, err := a.Move(); err != nil || !m2.Finishing || !slices.Equal(m2.To, first.To) {
		t.Fatalf("after marking finishing: %+v %v", m2, err)
	}
	v4 := version(a)
	if v4 == v3 {
		t.Fatal("the version did not change when the rebalance became finishing")
	}

	must(a.FinishMove(first.To))
	if p, ok, err := b.Placement(); err != nil || !ok || !slices.Equal(p, first.To) {
		t.Fatalf("placement after the rebalance: %v %v %v", p, ok, err)
	}
	if m, err := b.Move(); err != nil || m != nil {
		t.Fatalf("rebalance after it finished: %+v %v", m, err)
	}
	if done, cleared, err := b.MovedKeys(); err != nil || len(done)+len(cleared) != 0 {
		t.Fatalf("keys after the rebalance finished: %v %v %v", done, cleared, err)
	}

	// A later rebalance starts without keys.
	_, err = b.StartMove(shard.NewMove(first.To, []string{"s2"}))
	must(err)
	if done, _, err := a.MovedKeys(); err != nil || len(done) != 0 {
		t.Fatalf("a new rebalance inherited keys: %v %v", done, err)
	}

	// One rebalance tool at a time.
	unlock, err := a.Lock()
	must(err)
	if u, err := b.Lock(); err == nil {
		_ = u()
		t.Fatal("a second lock was granted while the first is held")
	}
	must(unlock())
	u, err := b.Lock()
	must(err)
	must(u())
}
