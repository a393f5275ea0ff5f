package replica

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/influxgate/influxgate/internal/wal"
)

// Resync progress, kept so that an interrupted resync resumes where it
// stopped. The file holds the run's parameters, when the run first started
// (what a divergence mark is checked against) and, per database, retention
// policy and measurement, the time ranges whose buckets were copied
// completely, merged into as few ranges as possible. It is written after
// every copied bucket, atomically (temporary file, fsync, rename), so a
// crash leaves the previous or the new state; a bucket cut short by a crash
// is not recorded and is copied again.

const stateVersion = 1

// runParams are what must match for saved progress to apply: a bucket
// recorded as copied under other bounds or another bucket length may have
// been copied only in part.
type runParams struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	Database string `json:"database,omitempty"`
	Start    string `json:"start,omitempty"`
	End      string `json:"end,omitempty"`
	BucketNS int64  `json:"bucket_ns"`
}

type stateFile struct {
	Version int       `json:"version"`
	Params  runParams `json:"params"`
	Started time.Time `json:"started"`
	// Done maps database, retention policy and measurement to the sorted,
	// disjoint [from, to) ranges (ns) whose buckets are copied.
	Done map[string]map[string]map[string][][2]int64 `json:"done"`
	// CopiedBuckets and CopiedPoints count what the runs so far copied.
	CopiedBuckets int   `json:"copied_buckets"`
	CopiedPoints  int64 `json:"copied_points"`
}

// progressState is the saved progress of one resync; safe for concurrent
// use.
type progressState struct {
	path string // "" keeps the state in memory only
	mu   sync.Mutex
	f    stateFile
}

// loadState reads the progress at path. It returns fresh state (and a note
// saying why, when a file was set aside) when there is none, when fresh is
// set, or when the file was written for a run with other parameters.
func loadState(path string, p runParams, now time.Time, fresh bool) (*progressState, string, error) {
	s := &progressState{path: path, f: stateFile{Version: stateVersion, Params: p, Started: now.UTC(),
		Done: map[string]map[string]map[string][][2]int64{}}}
	if path == "" {
		return s, "", nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read resync progress: %w", err)
	}
	if fresh {
		return s, fmt.Sprintf("ignoring the saved progress in %s (-restart)", path), nil
	}
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil || f.Version != stateVersion {
		return s, fmt.Sprintf("ignoring unreadable saved progress in %s", path), nil
	}
	if f.Params != p {
		return s, fmt.Sprintf("ignoring the saved progress in %s: it is for a run with other -db, -start, -end or -bucket", path), nil
	}
	if f.Done == nil {
		f.Done = s.f.Done
	}
	s.f = f
	return s, fmt.Sprintf("resuming the resync started at %s (progress in %s)", f.Started.Format(time.RFC3339), path), nil
}

// started is when the first run of this resync started.
func (s *progressState) started() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Started
}

// copied is the number of buckets copied by the runs so far.
func (s *progressState) copied() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.CopiedBuckets
}

// done reports whether every bucket overlapping w was copied.
func (s *progressState) done(db, rp, m string, w span) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.f.Done[db][rp][m] {
		if r[0] <= w.from && w.to <= r[1] {
			return true
		}
	}
	return false
}

// markDone records the bucket span w, with its points, as copied and
// saves the state.
func (s *progressState) markDone(db, rp, m string, w span, points int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f.CopiedBuckets++
	s.f.CopiedPoints += points
	if s.f.Done[db] == nil {
		s.f.Done[db] = map[string]map[string][][2]int64{}
	}
	if s.f.Done[db][rp] == nil {
		s.f.Done[db][rp] = map[string][][2]int64{}
	}
	s.f.Done[db][rp][m] = addRange(s.f.Done[db][rp][m], [2]int64{w.from, w.to})
	return s.saveLocked()
}

// addRange inserts r into sorted disjoint ranges, merging what touches it.
func addRange(rs [][2]int64, r [2]int64) [][2]int64 {
	i := slices.IndexFunc(rs, func(x [2]int64) bool { return x[1] >= r[0] })
	if i < 0 {
		return append(rs, r)
	}
	j := i
	for j < len(rs) && rs[j][0] <= r[1] {
		r[0], r[1] = min(r[0], rs[j][0]), max(r[1], rs[j][1])
		j++
	}
	return slices.Replace(rs, i, j, r)
}

// save writes the state (also when nothing is done yet, so that the start
// time survives an interruption).
func (s *progressState) save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveLocked()
}

func (s *progressState) saveLocked() error {
	if s.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(s.f, "", " ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.path, append(data, '\n')); err != nil {
		return fmt.Errorf("save resync progress: %w", err)
	}
	return nil
}

// remove deletes the state file once the resync has finished.
func (s *progressState) remove() error {
	if s.path == "" {
		return nil
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove resync progress: %w", err)
	}
	return nil
}

// writeFileAtomic creates the directory (0700) if needed and replaces path
// with data through wal.WriteFileAtomic (temporary file, fsync, rename).
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return wal.WriteFileAtomic(path, data)
}
