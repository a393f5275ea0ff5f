package shard

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Once a rebalance is finishing, a key that was never recorded done (it
// was first written during the rebalance, to both owners) is read from
// and written to its new owner alone, and its old owner's copy is a stray
// until cleared; keys that do not move are unaffected. The mark survives
// a reload of the state, and a state file without it reads as before.
func TestFinishingRoutesUnlistedKeysToTheirNewOwner(t *testing.T) {
	dir := t.TempDir()
	st := Dir(dir)
	if err := st.SetPlacement([]string{"s1", "s2"}); err != nil {
		t.Fatal(err)
	}
	m, err := st.StartMove(NewMove([]string{"s1", "s2"}, []string{"s1", "s2", "s3"}))
	if err != nil {
		t.Fatal(err)
	}
	var moving, staying []byte
	from, to := NewPlacement(m.From), NewPlacement(m.To)
	for i := 0; moving == nil || staying == nil; i++ {
		k := []byte(fmt.Sprintf("db\x00m%d", i))
		if from.Owner(k) != to.Owner(k) {
			moving = k
		} else {
			staying = k
		}
	}
	old, owner := from.Owner(moving), to.Owner(moving)

	r, _, err := LoadRoute(st, m.To)
	if err != nil {
		t.Fatal(err)
	}
	if o, x := r.writeOwners(moving); o != owner || x != old || r.ReadOwner(moving) != old || !r.Strays(owner, moving) || r.Strays(old, moving) {
		t.Fatalf("before finishing: writes %s+%s, reads %s, strays on owner %v, on old %v",
			o, x, r.ReadOwner(moving), r.Strays(owner, moving), r.Strays(old, moving))
	}

	if err := st.MarkFinishing(m); err != nil || !m.Finishing {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, rebalanceDir, stateFile))
	if !strings.Contains(string(b), `"finishing":true`) {
		t.Fatalf("state file: %s", b)
	}
	r, got, err := LoadRoute(st, m.To)
	if err != nil || !got.Finishing {
		t.Fatal(err)
	}
	if o, x := r.writeOwners(moving); o != owner || x != "" || r.ReadOwner(moving) != owner || r.Strays(owner, moving) || !r.Strays(old, moving) {
		t.Fatalf("finishing: writes %s+%q, reads %s, strays on owner %v, on old %v",
			o, x, r.ReadOwner(moving), r.Strays(owner, moving), r.Strays(old, moving))
	}
	if o, x := r.writeOwners(staying); o != to.Owner(staying) || x != "" || r.Strays(o, staying) {
		t.Fatalf("a key that stays: writes %s+%q", o, x)
	}

	if err := st.AddKey(KeyEvent{Cleared: string(moving)}); err != nil {
		t.Fatal(err)
	}
	if r, _, _ = LoadRoute(st, m.To); r.Strays(old, moving) {
		t.Error("cleared key still a stray on its old owner")
	}
}
