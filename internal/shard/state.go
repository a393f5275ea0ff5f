package shard

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/influxgate/influxgate/internal/wal"
)

// The placement and rebalance state of a sharded listener live in its
// directory (data-dir/<listener>):
//
//	placement                 the shards that owned keys when the data on
//	                          the backends was last in place (JSON)
//	rebalance/state           a rebalance in progress: from and to, and
//	                          whether it is finishing (JSON)
//	rebalance/keys            keys moved so far, one JSON object a line:
//	                          {"done":KEY} once copied and verified,
//	                          {"cleared":KEY} once deleted from the old owner
//
// The daemon writes placement and starts a rebalance (state) when the
// config's shards differ from it; `influxgate rebalance` appends to keys
// as it moves data and, when every key is in place, writes the new
// placement and removes rebalance/. Each file is replaced atomically or
// only appended to, so a crash of either process at any moment leaves a
// state the other can resume from.

const (
	placementFile = "placement"
	rebalanceDir  = "rebalance"
	stateFile     = "state"
	keysFile      = "keys"
)

type placementJSON struct {
	Version int      `json:"version"`
	Shards  []string `json:"shards"`
}

// MoveState is a rebalance in progress.
type MoveState struct {
	Version int       `json:"version"`
	From    []string  `json:"from"`
	To      []string  `json:"to"`
	Started time.Time `json:"started"`
	// Finishing is set by influxgate rebalance once every key that was
	// on a shard before the rebalance is done: from then on the keys not
	// listed in rebalance/keys (first written during the rebalance, to
	// both owners) are read from and written to their new owner alone,
	// so that their old owners' copies can be deleted before the
	// placement changes (Route has the rules). Absent in older files.
	Finishing bool `json:"finishing,omitempty"`
}

// ReadPlacement returns the shards of the stored placement, and false when
// the listener has none stored yet.
func ReadPlacement(dir string) ([]string, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, placementFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var p placementJSON
	if err := json.Unmarshal(b, &p); err != nil || p.Version != 1 || len(p.Shards) == 0 {
		return nil, false, fmt.Errorf("placement file %s is damaged (%v); it must name the shards that own the data on the backends",
			filepath.Join(dir, placementFile), err)
	}
	return p.Shards, true, nil
}

// WritePlacement stores the shards that own keys now.
func WritePlacement(dir string, shards []string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	s := slices.Sorted(slices.Values(shards))
	b, _ := json.Marshal(placementJSON{Version: 1, Shards: s})
	return wal.WriteFileAtomic(filepath.Join(dir, placementFile), append(b, '\n'))
}

// ReadMove returns the rebalance in progress, or nil.
func ReadMove(dir string) (*MoveState, error) {
	path := filepath.Join(dir, rebalanceDir, stateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m MoveState
	if err := json.Unmarshal(b, &m); err != nil || m.Version != 1 || len(m.From) == 0 || len(m.To) == 0 {
		return nil, fmt.Errorf("rebalance state %s is damaged (%v)", path, err)
	}
	return &m, nil
}

// StartMove records a rebalance from one placement to another.
func StartMove(dir string, from, to []string) (*MoveState, error) {
	m := &MoveState{Version: 1, From: slices.Sorted(slices.Values(from)), To: slices.Sorted(slices.Values(to)),
		Started: time.Now().UTC()}
	d := filepath.Join(dir, rebalanceDir)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(m)
	return m, wal.WriteFileAtomic(filepath.Join(d, stateFile), append(b, '\n'))
}

// MarkFinishing records that every key that was on a shard before the
// rebalance is done (MoveState.Finishing).
func MarkFinishing(dir string, m *MoveState) error {
	f := *m
	f.Finishing = true
	b, _ := json.Marshal(f)
	if err := wal.WriteFileAtomic(filepath.Join(dir, rebalanceDir, stateFile), append(b, '\n')); err != nil {
		return err
	}
	m.Finishing = true
	return nil
}

// FinishMove makes the rebalance's target the placement and removes the
// rebalance state: every key is in place.
func FinishMove(dir string, m *MoveState) error {
	if err := WritePlacement(dir, m.To); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(dir, rebalanceDir))
}

// keyEvent is one line of rebalance/keys.
type keyEvent struct {
	Done    string `json:"done,omitempty"`
	Cleared string `json:"cleared,omitempty"`
}

// ReadMovedKeys returns the keys moved so far (done) and those also
// deleted from their old owner (cleared). A torn last line (a crash while
// it was appended) is ignored: that key is moved again.
func ReadMovedKeys(dir string) (done, cleared map[string]bool, err error) {
	done, cleared = map[string]bool{}, map[string]bool{}
	f, err := os.Open(filepath.Join(dir, rebalanceDir, keysFile))
	if errors.Is(err, fs.ErrNotExist) {
		return done, cleared, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e keyEvent
		if json.Unmarshal(bytes.TrimSpace(sc.Bytes()), &e) != nil {
			continue
		}
		if e.Done != "" {
			done[e.Done] = true
		}
		if e.Cleared != "" {
			cleared[e.Cleared] = true
		}
	}
	return done, cleared, sc.Err()
}

// KeyLog appends moved keys to rebalance/keys, each line fsynced before
// the step it records is taken as done.
type KeyLog struct{ f *os.File }

// OpenKeyLog opens rebalance/keys for appending.
func OpenKeyLog(dir string) (*KeyLog, error) {
	f, err := os.OpenFile(filepath.Join(dir, rebalanceDir, keysFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &KeyLog{f: f}, nil
}

// Done records that key was copied to its new owner and verified.
func (l *KeyLog) Done(key []byte) error { return l.append(keyEvent{Done: string(key)}) }

// Cleared records that key's data was deleted from its old owner.
func (l *KeyLog) Cleared(key []byte) error { return l.append(keyEvent{Cleared: string(key)}) }

func (l *KeyLog) append(e keyEvent) error {
	b, _ := json.Marshal(e)
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return err
	}
	return l.f.Sync()
}

// Close closes the file.
func (l *KeyLog) Close() error { return l.f.Close() }

// LoadRoute reads the routing of a listener from its directory: no
// rebalance, or the one recorded with the keys moved so far.
func LoadRoute(dir string, owners []string) (*Route, *MoveState, error) {
	m, err := ReadMove(dir)
	if err != nil || m == nil {
		return NewRoute(NewPlacement(owners)), nil, err
	}
	done, cleared, err := ReadMovedKeys(dir)
	if err != nil {
		return nil, nil, err
	}
	r := NewMoveRoute(NewPlacement(m.From), NewPlacement(m.To), done, cleared)
	r.finishing = m.Finishing
	return r, m, nil
}

// Open decides a sharded listener's routing at start: owners are the
// config's shards that own keys, configured every shard of the config
// (retired ones too). With no placement stored, previous (if not nil)
// says which shards held the data before, e.g. the one shard whose
// outputs were the listener's before it was sharded. It starts a
// rebalance when the data is not where owners puts it, resumes one in
// progress, and refuses a shard change while a rebalance toward another
// placement is unfinished, or a shard that holds data and is gone from
// the config.
func Open(dir string, owners, configured []string, previous []string) (*Route, error) {
	owners = slices.Sorted(slices.Values(owners))
	placed, ok, err := ReadPlacement(dir)
	if err != nil {
		return nil, err
	}
	if !ok {
		placed = previous
		if placed == nil {
			placed = owners
		}
		if err := WritePlacement(dir, placed); err != nil {
			return nil, err
		}
	}
	m, err := ReadMove(dir)
	if err != nil {
		return nil, err
	}
	if m != nil && !slices.Equal(m.To, owners) {
		return nil, fmt.Errorf("a rebalance from shards %v to %v is not finished; run influxgate rebalance with the config that has shards %v, or restore it, before changing the shards again",
			m.From, m.To, m.To)
	}
	holders := placed
	if m != nil {
		holders = append(slices.Clone(m.From), m.To...)
	}
	for _, n := range holders {
		if !slices.Contains(configured, n) {
			return nil, fmt.Errorf("shard %q holds data but is not in the config: keep it with retire = true until influxgate rebalance has moved its keys, then remove it", n)
		}
	}
	if m == nil && !slices.Equal(slices.Sorted(slices.Values(placed)), owners) {
		if _, err := StartMove(dir, placed, owners); err != nil {
			return nil, err
		}
	}
	route, _, err := LoadRoute(dir, owners)
	return route, err
}
