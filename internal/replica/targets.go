package replica

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/relay"
)

// ReplicaSet is a set of outputs that hold the same data: the outputs of
// an unsharded listener, or those of one shard of a sharded listener.
type ReplicaSet struct {
	Listener string
	Shard    string // "" for an unsharded listener
	Outputs  []config.OutputConfig
	// Dir is the set's directory in the data directory
	// (config.RelayDir): where the daemon keeps its log, cursors and
	// divergence marks.
	Dir string
}

// RelayName is the name the daemon gives the set's relay (and its stream
// in NATS): the listener's, or "listener/shard".
func (r ReplicaSet) RelayName() string {
	if r.Shard == "" {
		return r.Listener
	}
	return r.Listener + "/" + r.Shard
}

// String names the set for people: listener "main", or listener "main"
// shard "s1".
func (r ReplicaSet) String() string {
	if r.Shard == "" {
		return fmt.Sprintf("listener %q", r.Listener)
	}
	return fmt.Sprintf("listener %q shard %q", r.Listener, r.Shard)
}

// MarkerPath is the file in which the daemon records, with the local log,
// since when it skipped records for output (its overflow policy):
// <set dir>/diverged/<output>. Deleting the file clears "diverged since T"
// on /health within a second.
func (r ReplicaSet) MarkerPath(output string) string {
	return filepath.Join(r.Dir, "diverged", output)
}

// StatePath is the progress file of a resync from one output of the set
// to another: data-dir/resync/<listener>-<from>-<to>.json for an unsharded
// listener (where it always was), <shard dir>/resync/<from>-<to>.json for
// a shard.
func (r ReplicaSet) StatePath(dataDir, from, to string) string {
	if r.Shard == "" {
		return filepath.Join(dataDir, "resync", config.DirName(r.Listener)+"-"+config.DirName(from)+"-"+config.DirName(to)+".json")
	}
	return filepath.Join(r.Dir, "resync", config.DirName(from)+"-"+config.DirName(to)+".json")
}

// ReplicaSets returns the replica sets to verify: those of the listener
// named (every listener when ""), and of a sharded listener every shard,
// or the one named. Without names, only sets of two or more outputs are
// returned: there is nothing to compare in the others.
func ReplicaSets(cfg *config.Config, listener, shard string) ([]ReplicaSet, error) {
	var out []ReplicaSet
	listenerFound, shardFound := false, 0
	for _, h := range cfg.HTTP {
		if listener != "" && h.Name != listener {
			continue
		}
		listenerFound = true
		if !h.Sharded() {
			if shard == "" && (listener != "" || len(h.Outputs) >= 2) {
				out = append(out, ReplicaSet{Listener: h.Name, Outputs: h.Outputs, Dir: cfg.RelayDir(h.Name, "")})
			}
			continue
		}
		found := false
		for _, sc := range h.Shards {
			if shard != "" && sc.Name != shard {
				continue
			}
			found = true
			if shard != "" || len(sc.Outputs) >= 2 {
				out = append(out, ReplicaSet{Listener: h.Name, Shard: sc.Name, Outputs: sc.Outputs, Dir: cfg.RelayDir(h.Name, sc.Name)})
			}
		}
		if found && shard != "" {
			shardFound++
		}
	}
	switch {
	case listener != "" && !listenerFound:
		return nil, fmt.Errorf("no [[http]] listener named %q (have %s)", listener, listenerNames(cfg))
	case shard != "" && shardFound == 0 && listener != "":
		return nil, fmt.Errorf("listener %q has no shard named %q", listener, shard)
	case shard != "" && shardFound == 0:
		return nil, fmt.Errorf("no sharded [[http]] listener has a shard named %q", shard)
	case shard != "" && shardFound > 1:
		return nil, fmt.Errorf("several listeners have a shard named %q: choose one with -listener", shard)
	case len(out) == 0:
		return nil, errors.New("no [[http]] listener or shard has two or more outputs to compare")
	}
	return out, nil
}

// Pair finds the outputs from and to: in the listener named (or the only
// listener that has outputs with both names), in its outputs or, for a
// sharded listener, in one of its shards (the one named, when shard is
// not ""). Output names are unique across a listener's shards, so the
// names alone find the shard; both must be in the same one.
func Pair(cfg *config.Config, listener, shard, from, to string) (set ReplicaSet, src, dst config.OutputConfig, err error) {
	if from == to {
		return set, src, dst, fmt.Errorf("-from and -to both name %q", from)
	}
	sets, err := ReplicaSets(cfg, listener, shard)
	if err != nil && (listener != "" || shard != "") {
		return set, src, dst, err
	}
	var found []ReplicaSet
	for _, s := range sets {
		_, okFrom := output(s.Outputs, from)
		_, okTo := output(s.Outputs, to)
		if okFrom && okTo {
			found = append(found, s)
		}
	}
	switch {
	case len(found) == 0:
		where := "no [[http]] listener or shard"
		switch {
		case shard != "":
			where = fmt.Sprintf("shard %q", shard)
		case listener != "":
			where = fmt.Sprintf("listener %q", listener)
		}
		if s1, s2 := shardOf(cfg, listener, from), shardOf(cfg, listener, to); s1 != "" && s2 != "" && s1 != s2 {
			return set, src, dst, fmt.Errorf("outputs %q (shard %s) and %q (shard %s) are in different shards, which hold different data", from, s1, to, s2)
		}
		return set, src, dst, fmt.Errorf("%s has outputs named %q and %q", where, from, to)
	case len(found) > 1:
		var names []string
		for _, s := range found {
			names = append(names, s.String())
		}
		return set, src, dst, fmt.Errorf("%s all have outputs named %q and %q: choose one with -listener", strings.Join(names, ", "), from, to)
	}
	set = found[0]
	src, _ = output(set.Outputs, from)
	dst, _ = output(set.Outputs, to)
	return set, src, dst, nil
}

// shardOf names the shard of a sharded listener (the one named, or any)
// that has an output named name, or "".
func shardOf(cfg *config.Config, listener, name string) string {
	for _, h := range cfg.HTTP {
		if listener != "" && h.Name != listener {
			continue
		}
		for _, sc := range h.Shards {
			if _, ok := output(sc.Outputs, name); ok {
				return sc.Name
			}
		}
	}
	return ""
}

func output(outputs []config.OutputConfig, name string) (config.OutputConfig, bool) {
	for _, o := range outputs {
		if o.Name == name {
			return o, true
		}
	}
	return config.OutputConfig{}, false
}

func listenerNames(cfg *config.Config) string {
	var n []string
	for _, h := range cfg.HTTP {
		n = append(n, fmt.Sprintf("%q", h.Name))
	}
	if len(n) == 0 {
		return "none"
	}
	return strings.Join(n, ", ")
}

// Coverage is what a finished resync copied, to decide whether it repaired
// an output marked as diverged.
type Coverage struct {
	AllDatabases bool      // no -db: every database was copied
	Start, End   time.Time // the -start and -end given (zero: open)
	Started      time.Time // when the resync (its first run, if resumed) started
	Agreed       bool      // the final comparison found no difference
}

// Marks is where the daemon keeps its divergence marks: relay.FileState
// of the replica set's directory with the local log (MarkerPath), the
// shared log's state bucket with a log in NATS (jetlog.OpenState).
type Marks interface {
	LoadState(backend, kind string) ([]byte, bool, error)
	DeleteState(backend, kind string) error
}

// SettleMarker deletes output's divergence mark when c covers it: the
// resync copied every database over [T, Started], where T is the time in
// the mark, and the replicas agreed at the end. It returns a sentence for
// the operator either way; cleared says whether the mark was deleted.
func SettleMarker(marks Marks, output string, c Coverage) (msg string, cleared bool, err error) {
	data, ok, err := marks.LoadState(output, relay.StateDiverged)
	if err != nil {
		return "", false, fmt.Errorf("read divergence mark: %w", err)
	}
	if !ok {
		return "", false, nil
	}
	since, perr := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(data)))
	what := "diverged since " + since.UTC().Format(time.RFC3339Nano)
	if perr != nil {
		what = fmt.Sprintf("diverged since an unreadable time %q", strings.TrimSpace(string(data)))
	}
	why := ""
	switch {
	case !c.Agreed:
		why = "the replicas still differ at the end of the resync"
	case !c.AllDatabases:
		why = "-db limited the resync to one database; the skipped records may be in others"
	case perr != nil && !c.Start.IsZero():
		why = "-start was given and the mark's time cannot be read"
	case perr == nil && !c.Start.IsZero() && c.Start.After(since):
		why = fmt.Sprintf("-start %s is after the mark", c.Start.UTC().Format(time.RFC3339Nano))
	case !c.End.IsZero() && c.End.Before(c.Started):
		why = fmt.Sprintf("-end %s is before the resync started (%s)", c.End.UTC().Format(time.RFC3339Nano), c.Started.UTC().Format(time.RFC3339Nano))
	case perr == nil && since.After(c.Started):
		why = "records were skipped again after the resync started; run it once more when the output is live"
	}
	if why != "" {
		return fmt.Sprintf("kept the divergence mark (%s): %s", what, why), false, nil
	}
	if err := marks.DeleteState(output, relay.StateDiverged); err != nil {
		return "", false, fmt.Errorf("clear divergence mark: %w", err)
	}
	return fmt.Sprintf("cleared the divergence mark (%s): the resync covered it; /health stops reporting it within a second", what), true, nil
}
