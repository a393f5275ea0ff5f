package shard

import (
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

// Store keeps a sharded listener's placement and rebalance state where
// every influxgate serving the listener and influxgate rebalance see it:
// files in the listener's directory (Dir), or, with the log in NATS
// JetStream, a key-value bucket and a stream that every node shares
// (jetlog.ShardState).
//
// The state is three things:
//
//	placement   the shards that owned keys when the data on the backends
//	            was last in place
//	move        a rebalance in progress: from and to, and whether it is
//	            finishing
//	keys        keys moved so far, in order: "done" once copied and
//	            verified, "cleared" once deleted from the old owner
//
// The daemon writes the placement and starts a rebalance when the
// config's shards differ from it; influxgate rebalance adds keys as it
// moves data and, when every key is in place, finishes the move. Each
// write is atomic or an append, so a crash of any process at any moment
// leaves a state the others can resume from.
type Store interface {
	// Placement returns the shards of the stored placement, and false
	// when none is stored yet.
	Placement() ([]string, bool, error)
	// SetPlacement stores the shards that own keys now.
	SetPlacement(shards []string) error
	// Move returns the rebalance in progress, or nil.
	Move() (*MoveState, error)
	// StartMove records the rebalance m and forgets the keys of any
	// earlier one, unless a rebalance is recorded already (another
	// process started it first); it returns the rebalance in force.
	StartMove(m *MoveState) (*MoveState, error)
	// MarkFinishing records that m is finishing (MoveState.Finishing).
	MarkFinishing(m *MoveState) error
	// MovedKeys returns the keys done and cleared so far.
	MovedKeys() (done, cleared map[string]bool, err error)
	// AddKey records a step of one key; it is durable when AddKey
	// returns.
	AddKey(e KeyEvent) error
	// FinishMove makes to the placement and forgets the rebalance and
	// its keys.
	FinishMove(to []string) error
	// Version identifies the state stored now (Version).
	Version() (Version, error)
	// Lock takes the rebalance tool's lock of the listener: one
	// influxgate rebalance at a time.
	Lock() (unlock func() error, err error)
}

// KeyEvent is one step of one key: Done or Cleared names it.
type KeyEvent struct {
	Done    string `json:"done,omitempty"`
	Cleared string `json:"cleared,omitempty"`
}

// Version identifies a stored state: it changes whenever the state does,
// and within one rebalance Keys only grows as keys are added.
type Version struct {
	Placement uint64 `json:"placement"`
	Move      uint64 `json:"move"`
	Keys      uint64 `json:"keys"`
}

// Covers reports whether a state at v holds everything of the state at
// w: the same placement and rebalance, and every key step of w.
func (v Version) Covers(w Version) bool {
	return v.Placement == w.Placement && v.Move == w.Move && v.Keys >= w.Keys
}

// MoveState is a rebalance in progress.
type MoveState struct {
	Version int       `json:"version"`
	From    []string  `json:"from"`
	To      []string  `json:"to"`
	Started time.Time `json:"started"`
	// Finishing is set by influxgate rebalance once every key that was
	// on a shard before the rebalance is done: from then on the keys not
	// recorded done (first written during the rebalance, to both owners)
	// are read from and written to their new owner alone, so that their
	// old owners' copies can be deleted before the placement changes
	// (Route has the rules). Absent in older files.
	Finishing bool `json:"finishing,omitempty"`
}

// NewMove is a rebalance from one placement to another, starting now.
func NewMove(from, to []string) *MoveState {
	return &MoveState{Version: 1, From: slices.Sorted(slices.Values(from)), To: slices.Sorted(slices.Values(to)),
		Started: time.Now().UTC()}
}

type placementJSON struct {
	Version int      `json:"version"`
	Shards  []string `json:"shards"`
}

// EncodePlacement and DecodePlacement are the stored form of a placement
// (JSON); where names the copy in a complaint about a damaged one.
func EncodePlacement(shards []string) []byte {
	b, _ := json.Marshal(placementJSON{Version: 1, Shards: slices.Sorted(slices.Values(shards))})
	return append(b, '\n')
}

func DecodePlacement(b []byte, where string) ([]string, error) {
	var p placementJSON
	if err := json.Unmarshal(b, &p); err != nil || p.Version != 1 || len(p.Shards) == 0 {
		return nil, fmt.Errorf("placement %s is damaged (%v); it must name the shards that own the data on the backends", where, err)
	}
	return p.Shards, nil
}

// EncodeMove and DecodeMove are the stored form of a rebalance (JSON).
func EncodeMove(m *MoveState) []byte {
	b, _ := json.Marshal(m)
	return append(b, '\n')
}

func DecodeMove(b []byte, where string) (*MoveState, error) {
	var m MoveState
	if err := json.Unmarshal(b, &m); err != nil || m.Version != 1 || len(m.From) == 0 || len(m.To) == 0 {
		return nil, fmt.Errorf("rebalance state %s is damaged (%v)", where, err)
	}
	return &m, nil
}

// DecodeKeys adds the key events in b (one JSON object a line) to done
// and cleared. A line that does not parse (a torn last line: a crash
// while it was appended) is skipped: that key is moved again.
func DecodeKeys(b []byte, done, cleared map[string]bool) {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		var e KeyEvent
		if json.Unmarshal(bytes.TrimSpace(line), &e) != nil {
			continue
		}
		if e.Done != "" {
			done[e.Done] = true
		}
		if e.Cleared != "" {
			cleared[e.Cleared] = true
		}
	}
}

// EncodeKey is the stored form of one key event: a JSON line.
func EncodeKey(e KeyEvent) []byte {
	b, _ := json.Marshal(e)
	return append(b, '\n')
}

// Dir is the Store in a listener's directory (data-dir/<listener>):
//
//	placement        the placement (JSON)
//	rebalance/state  the rebalance in progress (JSON)
//	rebalance/keys   the keys, one JSON object a line
//
// Each file is replaced atomically or only appended to.
func Dir(dir string) Store { return dirStore(dir) }

type dirStore string

const (
	placementFile = "placement"
	rebalanceDir  = "rebalance"
	stateFile     = "state"
	keysFile      = "keys"
)

func (d dirStore) path(elem ...string) string {
	return filepath.Join(append([]string{string(d)}, elem...)...)
}

func (d dirStore) Placement() ([]string, bool, error) {
	b, err := os.ReadFile(d.path(placementFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	shards, err := DecodePlacement(b, "file "+d.path(placementFile))
	return shards, err == nil, err
}

func (d dirStore) SetPlacement(shards []string) error {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return err
	}
	return wal.WriteFileAtomic(d.path(placementFile), EncodePlacement(shards))
}

func (d dirStore) Move() (*MoveState, error) {
	path := d.path(rebalanceDir, stateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return DecodeMove(b, path)
}

func (d dirStore) StartMove(m *MoveState) (*MoveState, error) {
	if cur, err := d.Move(); err != nil || cur != nil {
		return cur, err
	}
	if err := os.MkdirAll(d.path(rebalanceDir), 0o700); err != nil {
		return nil, err
	}
	// Keys of an earlier rebalance whose end was cut short.
	if err := os.Remove(d.path(rebalanceDir, keysFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return m, wal.WriteFileAtomic(d.path(rebalanceDir, stateFile), EncodeMove(m))
}

func (d dirStore) MarkFinishing(m *MoveState) error {
	f := *m
	f.Finishing = true
	if err := wal.WriteFileAtomic(d.path(rebalanceDir, stateFile), EncodeMove(&f)); err != nil {
		return err
	}
	m.Finishing = true
	return nil
}

func (d dirStore) MovedKeys() (done, cleared map[string]bool, err error) {
	done, cleared = map[string]bool{}, map[string]bool{}
	b, err := os.ReadFile(d.path(rebalanceDir, keysFile))
	if errors.Is(err, fs.ErrNotExist) {
		return done, cleared, nil
	}
	if err != nil {
		return nil, nil, err
	}
	DecodeKeys(b, done, cleared)
	return done, cleared, nil
}

// AddKey appends one line and fsyncs it before the step it records is
// taken as done.
func (d dirStore) AddKey(e KeyEvent) error {
	f, err := os.OpenFile(d.path(rebalanceDir, keysFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(EncodeKey(e)); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// FinishMove writes the placement, then removes the keys before the
// state: a crash in between leaves a rebalance that finds every key in
// place, never keys that a later rebalance would take for its own.
func (d dirStore) FinishMove(to []string) error {
	if err := d.SetPlacement(to); err != nil {
		return err
	}
	if err := os.Remove(d.path(rebalanceDir, keysFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.RemoveAll(d.path(rebalanceDir))
}

// Version is made of the files' modification times and the keys file's
// size.
func (d dirStore) Version() (Version, error) {
	var v Version
	if fi, err := os.Stat(d.path(placementFile)); err == nil {
		v.Placement = uint64(fi.ModTime().UnixNano())
	}
	if fi, err := os.Stat(d.path(rebalanceDir, stateFile)); err == nil {
		v.Move = uint64(fi.ModTime().UnixNano())
	}
	if fi, err := os.Stat(d.path(rebalanceDir, keysFile)); err == nil {
		v.Keys = uint64(fi.Size())
	}
	return v, nil
}

// Lock is a lock file of its own: the daemon's lock (data-dir/LOCK) is
// not taken, since the tool runs beside the daemon.
func (d dirStore) Lock() (func() error, error) {
	return wal.LockDir(d.path("rebalance-tool"))
}

// LoadRoute reads the routing of a listener from its state: no
// rebalance, or the one recorded with the keys moved so far.
func LoadRoute(st Store, owners []string) (*Route, *MoveState, error) {
	m, err := st.Move()
	if err != nil || m == nil {
		return NewRoute(NewPlacement(owners)), nil, err
	}
	done, cleared, err := st.MovedKeys()
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
func Open(st Store, owners, configured []string, previous []string) (*Route, error) {
	owners = slices.Sorted(slices.Values(owners))
	placed, ok, err := st.Placement()
	if err != nil {
		return nil, err
	}
	if !ok {
		placed = previous
		if placed == nil {
			placed = owners
		}
		if err := st.SetPlacement(placed); err != nil {
			return nil, err
		}
	}
	m, err := st.Move()
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
		// Another node sharing the state may have started one first.
		if m, err = st.StartMove(NewMove(placed, owners)); err != nil {
			return nil, err
		}
		if !slices.Equal(m.To, owners) {
			return nil, fmt.Errorf("another influxgate started a rebalance from shards %v to %v; start this one with the config that has shards %v",
				m.From, m.To, m.To)
		}
	}
	route, _, err := LoadRoute(st, owners)
	return route, err
}

// Followers is a Store that several influxgate nodes share. Each node
// reports, every second, which state its routing follows; influxgate
// rebalance relies on a step (writes of moving keys going to both
// owners, a key done, the rebalance finishing) only once every node that
// reported lately follows a state that holds it.
type Followers interface {
	Report(f Follower) error
	// Followers returns the latest report of every node that has
	// reported.
	Followers() ([]Follower, error)
	// Leave removes the node's report: it routes no more writes.
	Leave(node string) error
}

// Follower is one node's report.
type Follower struct {
	Node    string  `json:"node"`
	Version Version `json:"version"`
	Moving  bool    `json:"moving"`
	// Finishing: the rebalance it follows is finishing.
	Finishing bool      `json:"finishing,omitempty"`
	At        time.Time `json:"at"`
}
