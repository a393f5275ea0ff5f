package jetlog

import (
	"fmt"
	"testing"

	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/testnats"
)

// Dead letters stored through one node are counted and drained through
// another, per backend and relay; a drain deletes only what it returned,
// so a record stored while it runs waits for the next one.
func TestDeadLettersAreSharedAndDrainedInOrder(t *testing.T) {
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	cfg := storeConfig(nc.URLs(), 1)
	a := openLog(t, cfg, "a", "http")
	b := openLog(t, cfg, "b", "http")
	other := openLog(t, cfg, "b", "udp")

	rec := func(i int) *record.Record {
		return &record.Record{Kind: record.KindWrite, DB: "db", Lines: 1, Body: fmt.Appendf(nil, "m v=%d %d\n", i, i)}
	}
	storeA := a.DeadLetters("b:8086")
	for i := range 5 {
		if err := storeA.Add(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.DeadLetters("c").Add(rec(99)); err != nil {
		t.Fatal(err)
	}
	if err := other.DeadLetters("b:8086").Add(rec(98)); err != nil {
		t.Fatal(err)
	}

	storeB := b.DeadLetters("b:8086")
	if n, err := storeB.Open(); err != nil || n != 5 {
		t.Fatalf("another node counts %d dead letters (%v), want 5", n, err)
	}
	var got []string
	n, err := storeB.Drain(func(r *record.Record) error {
		got = append(got, string(r.Body))
		if len(got) == 2 {
			// Stored while the drain runs: not part of it, not deleted.
			return storeA.Add(rec(5))
		}
		return nil
	})
	if err != nil || n != 5 {
		t.Fatalf("drained %d records (%v), want 5", n, err)
	}
	for i, body := range got {
		if want := fmt.Sprintf("m v=%d %d\n", i, i); body != want {
			t.Errorf("record %d drained as %q, want %q", i, body, want)
		}
	}
	if n, _ := storeA.Open(); n != 1 {
		t.Errorf("%d dead letters left after the drain, want the 1 stored during it", n)
	}
	if n, _ := a.DeadLetters("c").Open(); n != 1 {
		t.Errorf("another backend's store holds %d, want 1", n)
	}
	if n, _ := other.DeadLetters("b:8086").Open(); n != 1 {
		t.Errorf("the same backend of another relay holds %d, want 1", n)
	}
	if n, err := b.DeadLetters("empty").Drain(func(*record.Record) error { return nil }); err != nil || n != 0 {
		t.Errorf("drain of an empty store: %d, %v", n, err)
	}
}
