package replica

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/influxgate/influxgate/internal/config"
)

// Listeners returns the [[http]] listeners to verify: the one named, or
// every listener with at least two outputs.
func Listeners(cfg *config.Config, name string) ([]config.HTTPConfig, error) {
	var out []config.HTTPConfig
	for _, h := range cfg.HTTP {
		if name != "" && h.Name != name {
			continue
		}
		if name == "" && len(h.Outputs) < 2 {
			continue
		}
		out = append(out, h)
	}
	switch {
	case name != "" && len(out) == 0:
		return nil, fmt.Errorf("no [[http]] listener named %q (have %s)", name, listenerNames(cfg))
	case len(out) == 0:
		return nil, errors.New("no [[http]] listener has two or more outputs to compare")
	}
	return out, nil
}

// Pair finds the outputs from and to of one listener: the one named, or the
// only listener that has outputs with both names.
func Pair(cfg *config.Config, listener, from, to string) (h config.HTTPConfig, src, dst config.OutputConfig, err error) {
	if from == to {
		return h, src, dst, fmt.Errorf("-from and -to both name %q", from)
	}
	var found []config.HTTPConfig
	for _, c := range cfg.HTTP {
		if listener != "" && c.Name != listener {
			continue
		}
		_, okFrom := output(c, from)
		_, okTo := output(c, to)
		if okFrom && okTo {
			found = append(found, c)
		}
	}
	switch {
	case len(found) == 0 && listener != "":
		return h, src, dst, fmt.Errorf("listener %q has no outputs named %q and %q", listener, from, to)
	case len(found) == 0:
		return h, src, dst, fmt.Errorf("no [[http]] listener has outputs named %q and %q", from, to)
	case len(found) > 1:
		return h, src, dst, fmt.Errorf("listeners %s all have outputs named %q and %q: choose one with -listener", listenerNames(&config.Config{HTTP: found}), from, to)
	}
	h = found[0]
	src, _ = output(h, from)
	dst, _ = output(h, to)
	return h, src, dst, nil
}

func output(h config.HTTPConfig, name string) (config.OutputConfig, bool) {
	for _, o := range h.Outputs {
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

// MarkerPath is the file in which the daemon records since when it skipped
// records for an output (its overflow policy): deleting the file clears
// "diverged since T" on /health within a second.
func MarkerPath(dataDir, listener, output string) string {
	return filepath.Join(dataDir, config.DirName(listener), "diverged", output)
}

// StatePath is the progress file of a resync from one output to another.
func StatePath(dataDir, listener, from, to string) string {
	return filepath.Join(dataDir, "resync", config.DirName(listener)+"-"+config.DirName(from)+"-"+config.DirName(to)+".json")
}

// Coverage is what a finished resync copied, to decide whether it repaired
// an output marked as diverged.
type Coverage struct {
	AllDatabases bool      // no -db: every database was copied
	Start, End   time.Time // the -start and -end given (zero: open)
	Started      time.Time // when the resync (its first run, if resumed) started
	Agreed       bool      // the final comparison found no difference
}

// SettleMarker deletes the divergence mark at path when c covers it: the
// resync copied every database over [T, Started], where T is the time in
// the mark, and the replicas agreed at the end. It returns a sentence for
// the operator either way; cleared says whether the mark was deleted.
func SettleMarker(path string, c Coverage) (msg string, cleared bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read divergence mark: %w", err)
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
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("clear divergence mark: %w", err)
	}
	return fmt.Sprintf("cleared the divergence mark (%s): the resync covered it; /health stops reporting it within a second", what), true, nil
}
