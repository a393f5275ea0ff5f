package replica

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/relay"
)

func TestDirNameAndPaths(t *testing.T) {
	if got := config.DirName("main/ä b.c-d_e"); got != "main___b.c-d_e" { // one '_' per character, as the daemon
		t.Errorf("DirName = %q", got)
	}
	cfg := &config.Config{DataDir: "/d"}
	plain := ReplicaSet{Listener: "my listener", Dir: cfg.RelayDir("my listener", "")}
	if got := plain.MarkerPath("b"); got != "/d/my_listener/diverged/b" {
		t.Errorf("MarkerPath = %q", got)
	}
	if got := (ReplicaSet{Listener: "main"}).StatePath("/d", "a", "b 2"); got != "/d/resync/main-a-b_2.json" {
		t.Errorf("StatePath = %q", got)
	}
	sharded := ReplicaSet{Listener: "main", Shard: "s 1", Dir: cfg.RelayDir("main", "s 1")}
	if got := sharded.MarkerPath("b"); got != "/d/main/shards/s_1/diverged/b" {
		t.Errorf("MarkerPath of a shard = %q", got)
	}
	if got := sharded.StatePath("/d", "a", "b"); got != "/d/main/shards/s_1/resync/a-b.json" {
		t.Errorf("StatePath of a shard = %q", got)
	}
}

func TestReplicaSetsAndPair(t *testing.T) {
	out := func(names ...string) []config.OutputConfig {
		var o []config.OutputConfig
		for _, n := range names {
			o = append(o, config.OutputConfig{Name: n, Location: config.Location("http://" + n + ":8086/write")})
		}
		return o
	}
	cfg := &config.Config{DataDir: "/d", HTTP: []config.HTTPConfig{
		{Name: "one", Outputs: out("a", "b")},
		{Name: "two", Outputs: out("a", "b", "c")},
		{Name: "solo", Outputs: out("x")},
		{Name: "sh", ShardKey: "measurement", Shards: []config.ShardConfig{
			{Name: "s1", Outputs: out("s1a", "s1b")}, {Name: "s2", Outputs: out("s2a", "s2b")}, {Name: "s3", Outputs: out("s3a")}}},
	}}
	names := func(sets []ReplicaSet) string {
		var n []string
		for _, s := range sets {
			n = append(n, s.String())
		}
		return strings.Join(n, "; ")
	}
	sets, err := ReplicaSets(cfg, "", "")
	if want := `listener "one"; listener "two"; listener "sh" shard "s1"; listener "sh" shard "s2"`; err != nil || names(sets) != want {
		t.Errorf("ReplicaSets: %s %v\nwant %s", names(sets), err, want)
	}
	if sets[2].Dir != "/d/sh/shards/s1" {
		t.Errorf("dir of shard s1: %s", sets[2].Dir)
	}
	if sets, err := ReplicaSets(cfg, "sh", "s3"); err != nil || names(sets) != `listener "sh" shard "s3"` {
		t.Errorf("ReplicaSets(sh, s3): %s %v", names(sets), err)
	}
	if sets, err := ReplicaSets(cfg, "", "s2"); err != nil || names(sets) != `listener "sh" shard "s2"` {
		t.Errorf("ReplicaSets(s2): %s %v", names(sets), err)
	}
	for _, bad := range [][2]string{{"nope", ""}, {"sh", "s9"}, {"", "s9"}, {"one", "s1"}} {
		if _, err := ReplicaSets(cfg, bad[0], bad[1]); err == nil {
			t.Errorf("ReplicaSets%v: no error", bad)
		}
	}
	if _, err := ReplicaSets(cfg, "nope", ""); err == nil || !strings.Contains(err.Error(), `"one", "two", "solo", "sh"`) {
		t.Errorf("unknown listener: %v", err)
	}
	if _, _, _, err := Pair(cfg, "", "", "a", "b"); err == nil || !strings.Contains(err.Error(), "-listener") {
		t.Errorf("ambiguous pair: %v", err)
	}
	set, src, dst, err := Pair(cfg, "two", "", "a", "b")
	if err != nil || set.Listener != "two" || src.Name != "a" || dst.Name != "b" {
		t.Errorf("pair in two: %v %v %v %v", set, src.Name, dst.Name, err)
	}
	if set, _, dst, err := Pair(cfg, "", "", "c", "a"); err != nil || set.Listener != "two" || dst.Name != "a" {
		t.Errorf("only listener two has c: %v %v", set, err)
	}
	if set, _, _, err := Pair(cfg, "", "", "s2b", "s2a"); err != nil || set.Shard != "s2" || set.Dir != "/d/sh/shards/s2" {
		t.Errorf("outputs of shard s2: %v %v", set, err)
	}
	if set, _, _, err := Pair(cfg, "sh", "s1", "s1a", "s1b"); err != nil || set.Shard != "s1" {
		t.Errorf("outputs of shard s1 with -shard: %v %v", set, err)
	}
	if _, _, _, err := Pair(cfg, "", "", "s1a", "s2a"); err == nil || !strings.Contains(err.Error(), "different shards") {
		t.Errorf("outputs of two shards: %v", err)
	}
	if _, _, _, err := Pair(cfg, "sh", "s2", "s1a", "s1b"); err == nil || !strings.Contains(err.Error(), `shard "s2"`) {
		t.Errorf("outputs not in the shard named: %v", err)
	}
	for _, bad := range [][3]string{{"", "a", "a"}, {"", "a", "zz"}, {"one", "a", "c"}} {
		if _, _, _, err := Pair(cfg, bad[0], "", bad[1], bad[2]); err == nil {
			t.Errorf("Pair%v: no error", bad)
		}
	}
}

func TestSettleMarker(t *testing.T) {
	T := time.Date(2024, 5, 1, 12, 0, 0, 123, time.UTC)
	started := T.Add(time.Hour)
	full := Coverage{AllDatabases: true, Started: started, Agreed: true}
	tests := []struct {
		name    string
		mark    string // file content; "" for no file
		c       func(c Coverage) Coverage
		cleared bool
		msg     string
	}{
		{"no mark", "", func(c Coverage) Coverage { return c }, false, ""},
		{"full range", T.Format(time.RFC3339Nano) + "\n", func(c Coverage) Coverage { return c }, true, "cleared the divergence mark (diverged since 2024-05-01T12:00:00.000000123Z)"},
		{"start before the mark", T.Format(time.RFC3339Nano), func(c Coverage) Coverage { c.Start = T.Add(-time.Minute); return c }, true, "cleared"},
		{"start at the mark", T.Format(time.RFC3339Nano), func(c Coverage) Coverage { c.Start = T; return c }, true, "cleared"},
		{"start after the mark", T.Format(time.RFC3339Nano), func(c Coverage) Coverage { c.Start = T.Add(time.Nanosecond); return c }, false, "-start 2024-05-01T12:00:00.000000124Z is after the mark"},
		{"end after the start of the resync", T.Format(time.RFC3339Nano), func(c Coverage) Coverage { c.End = started; return c }, true, "cleared"},
		{"end before the start of the resync", T.Format(time.RFC3339Nano), func(c Coverage) Coverage { c.End = started.Add(-time.Second); return c }, false, "-end"},
		{"one database", T.Format(time.RFC3339Nano), func(c Coverage) Coverage { c.AllDatabases = false; return c }, false, "-db limited"},
		{"differences remain", T.Format(time.RFC3339Nano), func(c Coverage) Coverage { c.Agreed = false; return c }, false, "still differ"},
		{"marked after the resync started", started.Add(time.Second).Format(time.RFC3339Nano), func(c Coverage) Coverage { return c }, false, "skipped again"},
		{"unreadable mark, full range", "garbage", func(c Coverage) Coverage { return c }, true, `unreadable time "garbage"`},
		{"unreadable mark, -start", "garbage", func(c Coverage) Coverage { c.Start = T; return c }, false, "cannot be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "main", "diverged", "b")
			if tt.mark != "" {
				os.MkdirAll(filepath.Dir(path), 0o700)
				if err := os.WriteFile(path, []byte(tt.mark), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			msg, cleared, err := SettleMarker(relay.FileState{Dir: filepath.Dir(filepath.Dir(path))}, "b", tt.c(full))
			if err != nil || cleared != tt.cleared || !strings.Contains(msg, tt.msg) {
				t.Errorf("SettleMarker: cleared=%t %q %v; want cleared=%t and %q", cleared, msg, err, tt.cleared, tt.msg)
			}
			_, statErr := os.Stat(path)
			if exists := statErr == nil; exists != (tt.mark != "" && !tt.cleared) {
				t.Errorf("mark file exists=%t after cleared=%t", exists, cleared)
			}
		})
	}
}
