package wal

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestCursorsStoreLoadReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cursors")
	c, err := OpenCursors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Load("db1"); ok {
		t.Fatal("Load of a missing name returned ok")
	}
	names := map[string]uint64{
		"db1":                   1,
		"influx-2:8086":         99,
		"../escape":             7,
		"with space/and%slash":  1 << 40,
		"ünïcode":               3,
		strings.Repeat("x", 60): 5,
	}
	for n, v := range names {
		if err := c.Store(n, v); err != nil {
			t.Fatalf("Store(%q): %v", n, err)
		}
	}
	if err := c.Store("db1", 12345); err != nil {
		t.Fatal(err)
	}
	names["db1"] = 12345
	if err := c.Store("", 1); err == nil {
		t.Fatal("Store with an empty name succeeded")
	}
	if err := c.Delete("ünïcode"); err != nil {
		t.Fatal(err)
	}
	delete(names, "ünïcode")
	if err := c.Delete("never-stored"); err != nil {
		t.Fatalf("Delete of a missing name: %v", err)
	}

	c2, err := OpenCursors(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]string, 0, len(names))
	for n, v := range names {
		want = append(want, n)
		if got, ok := c2.Load(n); !ok || got != v {
			t.Errorf("after reopen Load(%q) = %d, %v; want %d", n, got, ok, v)
		}
	}
	slices.Sort(want)
	if got := c2.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	// Nothing escaped the directory, files are private.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(names) {
		t.Fatalf("%d files in the cursor dir, want %d", len(ents), len(names))
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", e.Name(), fi.Mode().Perm())
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cursor dir mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
}

func TestCursorsDamagedFile(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCursors(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if err := c.Store(n, 42); err != nil {
			t.Fatal(err)
		}
	}
	damage := map[string]string{
		"a" + cursorSuffix: "influxgate-cursor 1 43 00000000\n", // wrong checksum
		"b" + cursorSuffix: "influxgate-cursor 1 4",             // truncated
	}
	for f, content := range damage {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c2, err := OpenCursors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c2.Problems()) != 2 {
		t.Fatalf("problems %v, want 2", c2.Problems())
	}
	for _, n := range []string{"a", "b"} {
		if _, ok := c2.Load(n); ok {
			t.Errorf("damaged cursor %q loaded", n)
		}
	}
	if v, ok := c2.Load("c"); !ok || v != 42 {
		t.Fatalf("Load(c) = %d, %v", v, ok)
	}
	// Damaged names the backends, so that they replay rather than start
	// at the head of the log like a new output.
	if d := c2.Damaged(); len(d) != 2 || d["a"] == nil || d["b"] == nil {
		t.Fatalf("Damaged() = %v, want a and b", d)
	}
	// Storing again repairs it.
	if err := c2.Store("a", 50); err != nil {
		t.Fatal(err)
	}
	if d := c2.Damaged(); len(d) != 1 || d["b"] == nil {
		t.Fatalf("after Store(a), Damaged() = %v, want b only", d)
	}
	c3, _ := OpenCursors(dir)
	if v, ok := c3.Load("a"); !ok || v != 50 || len(c3.Problems()) != 1 || len(c3.Damaged()) != 1 {
		t.Fatalf("after repair Load(a) = %d, %v; problems %v", v, ok, c3.Problems())
	}
}

func TestCursorsConcurrentStores(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCursors(dir)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				if err := c.Store(fmt.Sprintf("b%d", w%2), uint64(i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	c2, _ := OpenCursors(dir)
	for _, n := range []string{"b0", "b1"} {
		v1, _ := c.Load(n)
		v2, ok := c2.Load(n)
		if !ok || v1 != v2 {
			t.Fatalf("%s: memory %d, disk %d (%v)", n, v1, v2, ok)
		}
	}
}

const cursorCrashEnv = "WAL_CURSOR_CRASH_DIR"

// TestCursorCrashChild stores 7, then dies by SIGKILL while storing 8, after
// the temp file is durable and before the rename.
func TestCursorCrashChild(t *testing.T) {
	dir := os.Getenv(cursorCrashEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestCursorCrashBeforeRename")
	}
	c, err := OpenCursors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Store("backend", 7); err != nil {
		t.Fatal(err)
	}
	c.beforeRename = func(tmp string) error {
		fmt.Println("tmp", filepath.Base(tmp))
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	_ = c.Store("backend", 8)
	t.Fatal("survived SIGKILL")
}

func TestCursorCrashBeforeRename(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCursorCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), cursorCrashEnv+"="+dir)
	out, err := cmd.Output()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
	tmp, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "tmp ")
	if !ok {
		t.Fatalf("child output %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, tmp)); err != nil {
		t.Fatalf("the temp file the crash left should exist: %v", err)
	}
	c, err := OpenCursors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := c.Load("backend"); !ok || v != 7 {
		t.Fatalf("after a crash before rename Load = %d, %v; want the old value 7", v, ok)
	}
	if _, err := os.Stat(filepath.Join(dir, tmp)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temp file not cleaned up: %v", err)
	}
	if len(c.Problems()) != 0 {
		t.Fatalf("problems %v", c.Problems())
	}
}

func TestCursorNameEncoding(t *testing.T) {
	for _, n := range []string{"a", ".", "..", "a.b", "%", "%41", "a/b", "\x00", "日本"} {
		enc := encodeCursorName(n)
		if strings.ContainsAny(enc, "/.\x00") {
			t.Errorf("encode(%q) = %q is not a safe file name", n, enc)
		}
		dec, ok := decodeCursorName(enc)
		if !ok || dec != n {
			t.Errorf("decode(encode(%q)) = %q, %v", n, dec, ok)
		}
	}
	if _, err := parseCursor(formatCursor(1<<64 - 1)); err != nil {
		t.Fatal(err)
	}
	if v, err := parseCursor([]byte("influxgate-cursor 1 18 " + fmt.Sprintf("%08x", crc([]byte("influxgate-cursor 1 18"))) + "\n")); err != nil || v != 18 {
		t.Fatalf("parse = %d, %v", v, err)
	}
}
