package wal

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The crash test re-executes the test binary as a child that appends in a
// loop from several goroutines and prints "ack <index> <round> <writer> <seq>"
// for each acknowledged record. The parent kills it with SIGKILL at a random
// moment, reopens the log and checks that every acknowledged record is there
// with the right payload, then starts the next round on the same directory.

const (
	crashDirEnv   = "WAL_CRASH_CHILD_DIR"
	crashRoundEnv = "WAL_CRASH_CHILD_ROUND"
	crashModeEnv  = "WAL_CRASH_CHILD_SYNC"
	// crashTruncEnv makes the child also truncate the front of the log as
	// a caught-up reader would, so that deleted segments are reused
	// (recycle.go) while it is killed.
	crashTruncEnv = "WAL_CRASH_CHILD_TRUNCATE"
)

// crashPayload is the payload writer w's seq-th record in a round: mostly
// small, sometimes 100 KB (the uncopied write path), sizes varying.
func crashPayload(round, w, seq int) []byte {
	head := fmt.Sprintf("round=%d writer=%d seq=%d|", round, w, seq)
	n := 50 + (seq*131+w*17)%900
	if seq%23 == 7 {
		n = 100<<10 + seq
	}
	return append([]byte(head), bytes.Repeat([]byte{byte('a' + (round+w+seq)%26)}, n)...)
}

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestCrashKill9")
	}
	round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	mode, err := ParseSyncMode(os.Getenv(crashModeEnv))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(Options{Dir: dir, SegmentSize: 256 << 10, Sync: mode, SyncInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv(crashTruncEnv) != "" {
		go func() {
			for {
				time.Sleep(2 * time.Millisecond)
				if last := l.LastIndex(); last > 400 {
					_ = l.TruncateFront(last - 400)
				}
			}
		}()
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				idx, err := l.Append(crashPayload(round, w, seq))
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(2)
				}
				mu.Lock()
				// One write per line, flushed at once: a line the parent
				// reads whole was acknowledged.
				fmt.Fprintf(out, "ack %d %d %d %d\n", idx, round, w, seq)
				_ = out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test spawns processes")
	}
	for _, c := range []struct {
		mode     SyncMode
		truncate bool
	}{{SyncAlways, false}, {SyncBatch, false}, {SyncNone, false}, {SyncAlways, true}} {
		mode := c.mode
		name := mode.String()
		if c.truncate {
			name += "-reusing-segments"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			acked := map[uint64][]byte{}
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(mode)))
			reused, rounds := 0, 4
			if c.truncate {
				rounds = 12 // a third of the kills land in a reused tail
			}
			for round := range rounds {
				n := runCrashChild(t, dir, round, mode, c.truncate, acked, time.Duration(20+rng.IntN(200))*time.Millisecond)
				t.Logf("round %d: %d acknowledged before kill -9", round, n)

				l, err := Open(Options{Dir: dir, SegmentSize: 256 << 10, Logger: testLogger(t)})
				if err != nil {
					t.Fatalf("round %d: reopen: %v", round, err)
				}
				rep := l.OpenReport()
				t.Logf("round %d: reopened: last index %d, %d torn bytes cut", round, rep.LastIndex, rep.TornBytes)
				if rep.CorruptRecords != 0 {
					t.Fatalf("round %d: kill -9 left damaged records: %+v", round, rep)
				}
				if len(spareFiles(t, dir)) > 0 {
					reused++
				}
				r, err := l.NewReader(l.FirstIndex())
				if err != nil {
					t.Fatal(err)
				}
				seen := l.FirstIndex() - 1
				for {
					ents, err := r.Read(4 << 20)
					if err != nil {
						t.Fatal(err)
					}
					if len(ents) == 0 {
						break
					}
					for _, e := range ents {
						if e.Index != seen+1 {
							t.Fatalf("round %d: record %d follows %d", round, e.Index, seen)
						}
						seen = e.Index
						if want, ok := acked[e.Index]; ok && !bytes.Equal(e.Data, want) {
							t.Fatalf("round %d: record %d is %q, acknowledged %q", round, e.Index, trim(e.Data), trim(want))
						}
					}
				}
				if g := r.Gaps(); len(g) != 0 {
					t.Fatalf("round %d: gaps %v", round, g)
				}
				for idx := range acked {
					if idx > seen && idx >= l.FirstIndex() {
						t.Fatalf("round %d: acknowledged record %d lost (log ends at %d)", round, idx, seen)
					}
				}
				_ = r.Close()
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if c.truncate && reused == 0 {
				t.Error("no round left a spare segment: the test did not reuse segments")
			}
		})
	}
}

// runCrashChild runs one child round, kills it after `after`, and records
// every acknowledged index and its payload in acked. It returns the number
// of acknowledgements it read.
func runCrashChild(t *testing.T, dir string, round int, mode SyncMode, truncate bool, acked map[uint64][]byte, after time.Duration) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round),
		crashModeEnv+"="+mode.String())
	if truncate {
		cmd.Env = append(cmd.Env, crashTruncEnv+"=1")
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	count := 0
	var kill <-chan time.Time
	deadline := time.After(60 * time.Second)
	handle := func(line string) {
		var idx uint64
		var r, w, seq int
		if _, err := fmt.Sscanf(line, "ack %d %d %d %d", &idx, &r, &w, &seq); err != nil {
			if strings.HasPrefix(line, "ack ") {
				t.Fatalf("bad child line %q", line)
			}
			return // test framework output
		}
		if _, dup := acked[idx]; dup {
			t.Fatalf("index %d acknowledged twice", idx)
		}
		acked[idx] = crashPayload(r, w, seq)
		count++
	}
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				t.Fatalf("child exited on its own: %s", stderr.String())
			}
			handle(line)
			if count == 1 && kill == nil {
				kill = time.After(after) // kill once it is really appending
			}
		case <-kill:
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			kill = nil
			// Lines the child printed before it died still count.
			for line := range lines {
				handle(line)
			}
			_ = cmd.Wait()
			return count
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("child never acknowledged anything: %s", stderr.String())
		}
	}
}
