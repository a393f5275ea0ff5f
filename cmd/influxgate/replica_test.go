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

// replicaConfig writes a config with one [[http]] listener, "main", whose
// outputs are the servers under the given names, and returns its path.
func replicaConfig(t *testing.T, dataDir string, names []string, servers ...*testinflux.Server) string {
	t.Helper()
	var outs []string
	for i, s := range servers {
		outs = append(outs, fmt.Sprintf("  { name = %q, location = %q },", names[i], s.WriteURL()))
	}
	cfg := fmt.Sprintf("data-dir = %q\n[[http]]\nname = \"main\"\nbind-addr = \"127.0.0.1:0\"\noutput = [\n%s\n]\n",
		dataDir, strings.Join(outs, "\n"))
	path := filepath.Join(t.TempDir(), "influxgate.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCmd runs a subcommand and returns its exit status and output.
func runReplicaCmd(t *testing.T, f func([]string, *strings.Builder, *strings.Builder) int, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	code := f(args, &stdout, &stderr)
	t.Logf("%s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	return code, stdout.String(), stderr.String()
}

func verifyCmd(args []string, o, e *strings.Builder) int { return verify(args, o, e) }
func resyncCmd(args []string, o, e *strings.Builder) int { return resync(args, o, e) }

// seedSmall writes a few measurements over a day into two databases.
func seedSmall(t *testing.T, s *testinflux.Server, base time.Time) {
	t.Helper()
	s.CreateDatabase(t, "db")
	s.Exec(t, `CREATE RETENTION POLICY "week" ON "db" DURATION 7d REPLICATION 1`)
	s.CreateDatabase(t, "db2")
	var lines []string
	for i := range 48 {
		at := base.Add(time.Duration(i) * 30 * time.Minute).UnixNano()
		lines = append(lines, fmt.Sprintf(`cpu,host=h%d usage=%d.5,n=%di,msg="a \"b\", c" %d`, i%3, i, i, at),
			fmt.Sprintf("mem,host=h%d free=%di,ok=%t %d", i%2, i*100, i%2 == 0, at))
	}
	s.Write(t, "db", "n", strings.Join(lines, "\n"))
	s.Write(t, "db2", "n", fmt.Sprintf("up v=1 %d\nup v=2 %d", base.UnixNano(), base.Add(time.Hour).UnixNano()))
	resp := s.Query(t, "db", fmt.Sprintf("SELECT * INTO \"week\".\"cpu\" FROM \"autogen\".\"cpu\" WHERE time >= %d GROUP BY *", base.UnixNano()))
	if err := resp.Err(); err != nil {
		t.Fatal(err)
	}
}

func replicaPoints(t *testing.T, s *testinflux.Server) []string {
	t.Helper()
	return append(s.Points(t, "db"), s.Points(t, "db2")...)
}

// The recovery of a backend that lost its data: verify reports it, a resync
// limited to one database leaves the divergence mark, a full resync clears
// it, and verify then passes.
func TestVerifyResyncCommands(t *testing.T) {
	a := testinflux.Start(t, testinflux.Options{})
	b := testinflux.Start(t, testinflux.Options{Version: testinflux.V1810})
	base := time.Now().Add(-30 * time.Hour).Truncate(time.Hour)
	seedSmall(t, a, base)
	b.CreateDatabase(t, "db")
	b.Write(t, "db", "n", fmt.Sprintf("cpu,host=h0 usage=0.5,n=0i,msg=\"a \\\"b\\\", c\" %d", base.UnixNano()))
	dataDir := t.TempDir()
	cfg := replicaConfig(t, dataDir, []string{"a", "b"}, a, b)
	marker := filepath.Join(dataDir, "main", "diverged", "b")
	if err := os.MkdirAll(filepath.Dir(marker), 0o700); err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-2 * time.Hour).UTC()
	if err := os.WriteFile(marker, []byte(since.Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, _ := runReplicaCmd(t, verifyCmd, "-config", cfg, "-recheck", "0")
	if code != 1 || !strings.Contains(out, "database") || !strings.Contains(out, "db2") || !strings.Contains(out, "missing on b") {
		t.Fatalf("verify before: want exit 1 naming db2 missing on b")
	}
	bucket := base.Add(time.Hour).UTC().Format(time.RFC3339)
	if !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool {
		return strings.HasPrefix(l, "data") && strings.Contains(l, " db ") && strings.Contains(l, " cpu ") && strings.Contains(l, bucket)
	}) {
		t.Errorf("verify before: no data row for db cpu at %s", bucket)
	}

	code, out, _ = runReplicaCmd(t, resyncCmd, "-config", cfg, "-from", "a", "-to", "b", "-db", "db2", "-recheck", "100ms")
	if code != 0 || !strings.Contains(out, "kept the divergence mark") || !strings.Contains(out, "-db limited") {
		t.Fatal("resync -db: want exit 0 and the mark kept because of -db")
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the mark is gone after a partial resync: %v", err)
	}

	code, out, _ = runReplicaCmd(t, resyncCmd, "-config", cfg, "-from", "a", "-to", "b", "-start", "1h", "-recheck", "100ms")
	if code != 0 || !strings.Contains(out, "is after the mark") {
		t.Fatal("resync -start 1h: want exit 0 and the mark kept because -start is after it")
	}

	code, out, _ = runReplicaCmd(t, resyncCmd, "-config", cfg, "-from", "a", "-to", "b", "-recheck", "100ms", "-rate", "100000")
	if code != 0 || !strings.Contains(out, "cleared the divergence mark (diverged since "+since.Format(time.RFC3339Nano)+")") {
		t.Fatal("full resync: want exit 0 and the mark cleared")
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the mark survived a covering resync: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "resync", "main-a-b.json")); !os.IsNotExist(err) {
		t.Errorf("progress file left after a finished resync: %v", err)
	}

	code, out, _ = runReplicaCmd(t, verifyCmd, "-config", cfg)
	if code != 0 || !strings.Contains(out, "the replicas agree") {
		t.Fatal("verify after: want exit 0")
	}
	if pa, pb := replicaPoints(t, a), replicaPoints(t, b); !slices.Equal(pa, pb) {
		t.Fatalf("points differ:\n%v\n%v", pa, pb)
	}
}

// A third backend added to the config later is backfilled from another.
func TestResyncBackfillsNewBackend(t *testing.T) {
	a := testinflux.Start(t, testinflux.Options{})
	b := testinflux.Start(t, testinflux.Options{})
	c := testinflux.Start(t, testinflux.Options{})
	base := time.Now().Add(-30 * time.Hour).Truncate(time.Hour)
	seedSmall(t, a, base)
	seedSmall(t, b, base)
	cfg := replicaConfig(t, t.TempDir(), []string{"a", "b", "c"}, a, b, c)

	if code, out, _ := runReplicaCmd(t, verifyCmd, "-config", cfg); code != 1 || !strings.Contains(out, "missing on c") {
		t.Fatal("verify: want exit 1, databases missing on c")
	}
	if code, _, _ := runReplicaCmd(t, resyncCmd, "-config", cfg, "-from", "b", "-to", "c", "-recheck", "100ms"); code != 0 {
		t.Fatal("resync b -> c failed")
	}
	if code, _, _ := runReplicaCmd(t, verifyCmd, "-config", cfg, "-listener", "main"); code != 0 {
		t.Fatal("verify after the backfill: want exit 0")
	}
	pa := replicaPoints(t, a)
	if len(pa) == 0 || !slices.Equal(pa, replicaPoints(t, c)) {
		t.Fatal("c does not hold a's points")
	}
}

// A backend that is down is an error (exit 2) that names it.
func TestReplicaCommandsBackendDown(t *testing.T) {
	a := testinflux.Start(t, testinflux.Options{})
	b := testinflux.Start(t, testinflux.Options{})
	seedSmall(t, a, time.Now().Add(-5*time.Hour).Truncate(time.Hour))
	cfg := replicaConfig(t, t.TempDir(), []string{"a", "b"}, a, b)
	b.Stop(t)
	for _, tc := range []struct {
		f    func([]string, *strings.Builder, *strings.Builder) int
		args []string
	}{
		{verifyCmd, []string{"-config", cfg}},
		{resyncCmd, []string{"-config", cfg, "-from", "a", "-to", "b"}},
	} {
		code, _, errOut := runReplicaCmd(t, tc.f, tc.args...)
		if code != 2 || !strings.Contains(errOut, "backend b (http://"+b.Addr()+")") || !strings.Contains(errOut, "connection refused") {
			t.Errorf("%v: want exit 2 and a message naming b and the refused connection", tc.args)
		}
	}
}

func TestReplicaCommandsUsage(t *testing.T) {
	a := testinflux.Start(t, testinflux.Options{})
	cfg := replicaConfig(t, t.TempDir(), []string{"a", "b"}, a, a)
	for _, tc := range []struct {
		f    func([]string, *strings.Builder, *strings.Builder) int
		args []string
		msg  string
	}{
		{verifyCmd, nil, "usage: influxgate verify"},
		{resyncCmd, []string{"-config", cfg, "-from", "a"}, "usage: influxgate resync"},
		{verifyCmd, []string{"-config", cfg, "-start", "yesterday"}, "want an RFC 3339 time"},
		{verifyCmd, []string{"-config", cfg, "-start", "1h", "-end", "2h"}, "is not before"},
		{verifyCmd, []string{"-config", cfg, "-listener", "x"}, `no [[http]] listener named "x"`},
		{resyncCmd, []string{"-config", cfg, "-from", "a", "-to", "zz"}, `outputs named "a" and "zz"`},
		{resyncCmd, []string{"-config", cfg, "-from", "a", "-to", "b"}, "are the same server"},
		{resyncCmd, []string{"-config", cfg, "-from", "a", "-to", "b", "-batch", "0"}, "must be positive"},
		{verifyCmd, []string{"-config", filepath.Join(t.TempDir(), "none.toml")}, "invalid configuration"},
	} {
		code, _, errOut := runReplicaCmd(t, tc.f, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: want exit 2 and %q", tc.args, tc.msg)
		}
	}
}
