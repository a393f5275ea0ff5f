package replica

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAddRange(t *testing.T) {
	var rs [][2]int64
	for _, r := range [][2]int64{{10, 20}, {30, 40}, {0, 5}, {20, 30}, {50, 60}, {5, 10}, {55, 70}, {45, 46}} {
		rs = addRange(rs, r)
	}
	want := [][2]int64{{0, 40}, {45, 46}, {50, 70}}
	if !slices.Equal(rs, want) {
		t.Errorf("ranges = %v, want %v", rs, want)
	}
}

func TestProgressStateSavesAndResumes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "resync")
	path := filepath.Join(dir, "main-a-b.json")
	p := runParams{Source: "a", Target: "b", BucketNS: int64(time.Hour)}
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	st, note, err := loadState(path, p, t0, false)
	if err != nil || note != "" {
		t.Fatal(err, note)
	}
	if err := st.markDone("db", "autogen", "cpu", span{0, 10}, 7); err != nil {
		t.Fatal(err)
	}
	if err := st.markDone("db", "autogen", "cpu", span{10, 20}, 3); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p    string
		mode os.FileMode
	}{{dir, 0o700}, {path, 0o600}} {
		if fi, err := os.Stat(c.p); err != nil || fi.Mode().Perm() != c.mode {
			t.Errorf("%s: %v, mode %v, want %v", c.p, err, fi.Mode().Perm(), c.mode)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp*")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	st2, note, err := loadState(path, p, t0.Add(time.Hour), false)
	if err != nil || !strings.Contains(note, "resuming") {
		t.Fatal(err, note)
	}
	if !st2.started().Equal(t0) || st2.copied() != 2 {
		t.Errorf("resumed state: started %v, %d buckets copied; want %v and 2", st2.started(), st2.copied(), t0)
	}
	if !st2.done("db", "autogen", "cpu", span{3, 20}) || st2.done("db", "autogen", "cpu", span{15, 21}) || st2.done("db", "week", "cpu", span{0, 1}) {
		t.Error("done() does not match the recorded ranges")
	}

	for name, other := range map[string]runParams{
		"bucket": {Source: "a", Target: "b", BucketNS: int64(2 * time.Hour)},
		"db":     {Source: "a", Target: "b", BucketNS: int64(time.Hour), Database: "x"},
		"start":  {Source: "a", Target: "b", BucketNS: int64(time.Hour), Start: "2024-01-01T00:00:00Z"},
	} {
		st3, note, err := loadState(path, other, t0.Add(time.Hour), false)
		if err != nil || !strings.Contains(note, "ignoring") || st3.copied() != 0 || !st3.started().Equal(t0.Add(time.Hour)) {
			t.Errorf("other %s: %v %q", name, err, note)
		}
	}
	if st4, note, _ := loadState(path, p, t0, true); !strings.Contains(note, "-restart") || st4.copied() != 0 {
		t.Errorf("-restart: %q", note)
	}
	if err := os.WriteFile(path, []byte("{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st5, note, err := loadState(path, p, t0, false); err != nil || !strings.Contains(note, "unreadable") || st5.copied() != 0 {
		t.Errorf("torn file: %v %q", err, note)
	}
	if err := st2.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("remove left the file: %v", err)
	}
}
