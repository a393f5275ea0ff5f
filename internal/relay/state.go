package relay

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/influxgate/influxgate/internal/wal"
)

// A backend's delivery state, besides its position in the log, is kept
// under one of these kinds.
const (
	// StateDiverged is the divergence mark: since when (RFC 3339) the
	// overflow policy skipped records for the backend. Deleting it (a
	// resync that covered it does) clears "diverged since" on /health.
	StateDiverged = "diverged"
	// StateBackfill is the pending continuous-query backfill: the point
	// ranges the backend received late, not yet logged as a backfill
	// record (backfill.Spec's encoding).
	StateBackfill = "backfill"
)

// StateStore keeps the delivery state of a relay's backends that must
// outlive the process: the divergence mark and the pending backfill
// (StateDiverged, StateBackfill). A CursorStore that also implements it
// keeps them too — a shared log keeps them beside the cursors, so that the
// node that takes a backend over carries them on; otherwise they are
// files under the relay's directory (FileState).
type StateStore interface {
	// LoadState returns the backend's value of kind; false when none is
	// stored.
	LoadState(backend, kind string) ([]byte, bool, error)
	// StoreState replaces it, durably.
	StoreState(backend, kind string, value []byte) error
	// DeleteState removes it; removing what is not stored is no error.
	DeleteState(backend, kind string) error
}

// FileState is the StateStore of a local log: <relay dir>/diverged/<output>
// and <relay dir>/backfill/<output>.json, where operators and `influxgate
// resync` find them.
type FileState struct{ Dir string }

// Path is the file that holds the backend's value of kind.
func (f FileState) Path(backend, kind string) string {
	if kind == StateBackfill {
		return filepath.Join(f.Dir, "backfill", backend+".json")
	}
	return filepath.Join(f.Dir, kind, backend)
}

func (f FileState) LoadState(backend, kind string) ([]byte, bool, error) {
	b, err := os.ReadFile(f.Path(backend, kind))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	return b, err == nil, err
}

func (f FileState) StoreState(backend, kind string, value []byte) error {
	p := f.Path(backend, kind)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return wal.WriteFileAtomic(p, value)
}

func (f FileState) DeleteState(backend, kind string) error {
	if err := os.Remove(f.Path(backend, kind)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// stateStore is where the relay keeps its backends' state: beside the
// cursors when the cursor store keeps it, in files otherwise.
func stateStore(cursors CursorStore, dir string) StateStore {
	if s, ok := cursors.(StateStore); ok {
		return s
	}
	return FileState{Dir: dir}
}
