package shard

import (
	"fmt"
	"testing"
)

// The owner function is a contract between influxgate nodes and versions:
// these owners must never change.
func TestPlacementIsStable(t *testing.T) {
	p := NewPlacement([]string{"s1", "s2", "s3"})
	for key, want := range map[string]string{
		"telegraf\x00cpu":        "s3",
		"telegraf\x00mem":        "s1",
		"telegraf\x00disk":       "s1",
		"db\x00m\x00customer-17": "s1",
		"db\x00m\x00":            "s1",
		"\x00":                   "s2",
	} {
		if got := p.Owner([]byte(key)); got != want {
			t.Errorf("owner of %q = %s, want %s", key, got, want)
		}
	}
}

func TestPlacementOrderOfNamesDoesNotMatter(t *testing.T) {
	a, b := NewPlacement([]string{"s1", "s2", "s3"}), NewPlacement([]string{"s3", "s1", "s2"})
	for i := 0; i < 1000; i++ {
		k := []byte(fmt.Sprintf("db\x00m%d", i))
		if a.Owner(k) != b.Owner(k) {
			t.Fatalf("owner of %q depends on the order of the names", k)
		}
	}
}

func TestPlacementSpreadsAndAddingAShardMovesOnlyItsShare(t *testing.T) {
	const keys = 30000
	two, three := NewPlacement([]string{"s1", "s2"}), NewPlacement([]string{"s1", "s2", "s3"})
	per := map[string]int{}
	moved := 0
	for i := 0; i < keys; i++ {
		k := []byte(fmt.Sprintf("telegraf\x00measurement_%d", i))
		before, after := two.Owner(k), three.Owner(k)
		per[after]++
		if before != after {
			moved++
			if after != "s3" {
				t.Fatalf("key %q moved from %s to %s: only moves to the new shard are allowed", k, before, after)
			}
		}
	}
	for name, n := range per {
		if share := float64(n) / keys; share < 0.30 || share > 0.37 {
			t.Errorf("shard %s owns %.3f of the keys, want about 1/3", name, share)
		}
	}
	if share := float64(moved) / keys; share < 0.30 || share > 0.37 {
		t.Errorf("adding a third shard moved %.3f of the keys, want about 1/3", share)
	}
}
