package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// shardedReplicaConfig writes a config with one sharded listener, "main",
// whose shards s1, s2, ... have the servers given per shard as outputs
// <shard>a, <shard>b, ...
func shardedReplicaConfig(t *testing.T, dataDir string, shards ...[]*testinflux.Server) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "data-dir = %q\n[[http]]\nname = \"main\"\nbind-addr = \"127.0.0.1:0\"\nshard-key = \"measurement\"\n", dataDir)
	for i, servers := range shards {
		fmt.Fprintf(&b, "[[http.shard]]\nname = \"s%d\"\noutput = [\n", i+1)
		for j, s := range servers {
			fmt.Fprintf(&b, "  { name = \"s%d%c\", location = %q },\n", i+1, 'a'+j, s.WriteURL())
		}
		b.WriteString("]\n")
	}
	path := filepath.Join(t.TempDir(), "influxgate.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// verify and resync on a sharded listener: each shard is a replica set.
// verify compares every shard and says which one differs, or one shard
// with -shard; resync finds the shard from the output names (or -shard),
// refuses outputs of two shards, and clears the divergence mark in the
// shard's directory.
func TestVerifyResyncPerShard(t *testing.T) {
	s1a := testinflux.Start(t, testinflux.Options{})
	s1b := testinflux.Start(t, testinflux.Options{})
	s2a := testinflux.Start(t, testinflux.Options{})
	s2b := testinflux.Start(t, testinflux.Options{})
	base := time.Now().Add(-30 * time.Hour).Truncate(time.Hour)
	seedSmall(t, s1a, base)
	seedSmall(t, s1b, base)
	seedSmall(t, s2a, base)
	s2b.CreateDatabase(t, "db") // s2b lost its data
	dataDir := t.TempDir()
	cfg := shardedReplicaConfig(t, dataDir, []*testinflux.Server{s1a, s1b}, []*testinflux.Server{s2a, s2b})
	marker := filepath.Join(dataDir, "main", "shards", "s2", "diverged", "s2b")
	if err := os.MkdirAll(filepath.Dir(marker), 0o700); err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-2 * time.Hour).UTC()
	if err := os.WriteFile(marker, []byte(since.Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, _ := runReplicaCmd(t, verifyCmd, "-config", cfg, "-recheck", "0")
	if code != 1 || !strings.Contains(out, `listener "main" shard "s1" (s1a, s1b): the replicas agree`) ||
		!strings.Contains(out, `listener "main" shard "s2" (s2a, s2b):`) || !strings.Contains(out, "missing on s2b") {
		t.Fatal(`verify: want exit 1, shard s1 agreeing and shard s2 with db2 missing on s2b`)
	}
	if code, out, _ := runReplicaCmd(t, verifyCmd, "-config", cfg, "-shard", "s1"); code != 0 || strings.Contains(out, `shard "s2"`) {
		t.Fatal("verify -shard s1: want exit 0 and only shard s1")
	}
	if code, _, errOut := runReplicaCmd(t, resyncCmd, "-config", cfg, "-from", "s1a", "-to", "s2b"); code != 2 || !strings.Contains(errOut, "different shards") {
		t.Fatal("resync across shards: want exit 2 saying the outputs are in different shards")
	}
	if code, _, errOut := runReplicaCmd(t, resyncCmd, "-config", cfg, "-shard", "s1", "-from", "s2a", "-to", "s2b"); code != 2 || !strings.Contains(errOut, `shard "s1" has outputs named`) {
		t.Fatal("resync with the wrong -shard: want exit 2")
	}

	code, out, _ = runReplicaCmd(t, resyncCmd, "-config", cfg, "-from", "s2a", "-to", "s2b", "-recheck", "100ms")
	if code != 0 || !strings.Contains(out, "cleared the divergence mark (diverged since "+since.Format(time.RFC3339Nano)+")") {
		t.Fatal("resync s2a -> s2b: want exit 0 and the shard's mark cleared")
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the shard's mark survived: %v", err)
	}
	if code, _, _ := runReplicaCmd(t, verifyCmd, "-config", cfg, "-listener", "main"); code != 0 {
		t.Fatal("verify after the resync: want exit 0")
	}
	if pa, pb := replicaPoints(t, s2a), replicaPoints(t, s2b); len(pa) == 0 || !slices.Equal(pa, pb) {
		t.Fatal("s2b does not hold s2a's points")
	}
}

func TestRebalanceCommandUsage(t *testing.T) {
	a := testinflux.Start(t, testinflux.Options{})
	plain := replicaConfig(t, t.TempDir(), []string{"a", "b"}, a, a)
	sharded := shardedReplicaConfig(t, t.TempDir(), []*testinflux.Server{a})
	rebalanceOf := func(args []string, o, e *strings.Builder) int { return rebalanceCmd(args, o, e) }
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, "usage: influxgate rebalance"},
		{[]string{"-config", plain}, "no [[http]] listener is sharded"},
		{[]string{"-config", sharded, "-listener", "x"}, `no sharded [[http]] listener named "x"`},
		{[]string{"-config", sharded, "-settle", "1s"}, "-settle at least 2s"},
		{[]string{"-config", sharded}, "has no placement recorded"},
	} {
		code, _, errOut := runReplicaCmd(t, rebalanceOf, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: want exit 2 and %q", tc.args, tc.msg)
		}
	}
}
