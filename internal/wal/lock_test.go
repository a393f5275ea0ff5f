package wal

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

const lockChildEnv = "WAL_LOCK_CHILD_DIR"

// TestLockChild tries to lock the directory and reports the outcome.
func TestLockChild(t *testing.T) {
	dir := os.Getenv(lockChildEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestLockDir")
	}
	release, err := LockDir(dir)
	if err != nil {
		os.Stdout.WriteString("lock error: " + err.Error() + "\n")
		return
	}
	os.Stdout.WriteString("locked\n")
	_ = release()
}

func lockInChild(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "lock") {
			return line
		}
	}
	t.Fatalf("child printed %q", out)
	return ""
}

func TestLockDir(t *testing.T) {
	dir := t.TempDir()
	release, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := lockInChild(t, dir)
	for _, want := range []string{"lock error", dir, "in use", "another influxgate", "pid " + strconv.Itoa(os.Getpid())} {
		if !strings.Contains(got, want) {
			t.Errorf("second process: %q does not mention %q", got, want)
		}
	}
	// flock locks belong to the open file, so a second lock in this
	// process fails too.
	if _, err := LockDir(dir); err == nil || !strings.Contains(err.Error(), "another influxgate") {
		t.Fatalf("second LockDir in the same process: %v", err)
	}
	// The log ignores the lock file.
	l := openLog(t, Options{Dir: dir})
	if p := l.OpenReport().Problems; len(p) != 0 {
		t.Fatalf("Open reported %v", p)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if err := release(); err != nil {
		t.Fatalf("second release: %v", err)
	}
	if got := lockInChild(t, dir); got != "locked" {
		t.Fatalf("after release the child got %q", got)
	}
}
