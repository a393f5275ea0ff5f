package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Meta describes the machine and settings of a report.
type Meta struct {
	Started     time.Time     `json:"started"`
	GoVersion   string        `json:"go_version"`
	CPUs        int           `json:"cpus"`
	CPUModel    string        `json:"cpu_model,omitempty"`
	Layout      string        `json:"layout"`
	WorkDir     string        `json:"work_dir"`
	WorkDirFS   string        `json:"work_dir_fs,omitempty"`
	LoadBefore  string        `json:"loadavg_before"`
	LoadAfter   string        `json:"loadavg_after"`
	Warmup      time.Duration `json:"warmup_ns"`
	Duration    time.Duration `json:"duration_ns"`
	Runs        int           `json:"runs"`
	Relays      []Relay       `json:"relays"`
	Influxd     string        `json:"influxd,omitempty"`
	HarnessCPUs int           `json:"harness_cpus"`
	RelayEnv    []string      `json:"relay_env,omitempty"`
}

// Report is the JSON document the tool writes.
type Report struct {
	Meta    Meta     `json:"meta"`
	Results []Result `json:"results"`
}

// WriteJSON writes the report to path.
func (r Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// WriteTable prints the medians as an aligned table, then any problems.
func (r Report) WriteTable(w io.Writer) {
	m := r.Meta
	fmt.Fprintf(w, "influxgate-bench %s  %s, %d CPUs (%s)  %s\n", m.Started.Format(time.RFC3339), m.GoVersion, m.CPUs, m.CPUModel, m.Layout)
	fmt.Fprintf(w, "warm-up %v, window %v, medians of %d runs; data on %s (%s); load average %s before, %s after\n",
		m.Warmup, m.Duration, m.Runs, m.WorkDir, m.WorkDirFS, m.LoadBefore, m.LoadAfter)
	if len(m.RelayEnv) > 0 {
		fmt.Fprintf(w, "relay environment: %s\n", strings.Join(m.RelayEnv, " "))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trelay\tlines/s\treq/s\tp50\tp99\tmax\terrors\tcpu/line\tlines/cpu-s\trelay cpu\tcore idle/io\tpeak rss\tceiling\tof ceil\tharness cpu\tdelivery\t")
	for _, res := range r.Results {
		s := res.Median
		if why := notRun(res); why != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n", res.Scenario.Name, res.Relay, why)
			continue
		}
		ceil, of := "-", "-"
		if s.Ceiling > 0 {
			ceil, of = si(s.Ceiling), fmt.Sprintf("%.0f%%", 100*s.LinesPerSec/s.Ceiling)
		}
		perCPU := "-"
		if s.CPUPerLine > 0 {
			perCPU = si(1e9 / s.CPUPerLine)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%.0f ns\t%s\t%.2f\t%s\t%s\t%s\t%s\t%.2f\t%s\t\n",
			res.Scenario.Name, res.Relay, si(s.LinesPerSec), si(s.RequestsPerSec), dur(s.P50), dur(s.P99), dur(s.Max),
			s.Errors, s.CPUPerLine, perCPU, s.RelayCPU, coreIdle(s), mb(s.PeakRSS), ceil, of, s.HarnessCPU, delivery(res))
	}
	tw.Flush()
	if r.relayCount() > 1 {
		fmt.Fprintln(w)
		r.writeSideBySide(w)
	}

	var notes []string
	for _, res := range r.Results {
		name := res.Scenario.Name + "/" + res.Relay
		s := res.Median
		if res.Baseline {
			continue
		}
		if res.Scenario.Down {
			notes = append(notes, fmt.Sprintf("%s: data dir %s after the load; relay RSS %s at 1/5 of the run, %s at the end",
				name, mb(s.BacklogBytes), mb(s.RSSFirst), mb(s.RSSLast)))
		}
		if res.Scenario.Recovery {
			notes = append(notes, fmt.Sprintf("%s: backlog drained at %s lines/s; first line %v after the sink came back",
				name, si(s.DrainPerSec), s.DrainFirst.Round(time.Millisecond)))
		}
		if res.Scenario.Influxd {
			notes = append(notes, fmt.Sprintf("%s: ingest (acknowledged lines over the time until every replica stored them) direct into one influxd %s lines/s, through the relay into two %s lines/s: ratio %.2f",
				name, si(s.Direct), si(s.Through), s.Ratio))
		}
		for i, run := range res.Runs {
			for _, n := range run.Notes {
				notes = append(notes, fmt.Sprintf("%s run %d: %s", name, i+1, n))
			}
			if run.Recovery != nil && run.Recovery.Err != "" {
				notes = append(notes, fmt.Sprintf("%s run %d: RECOVERY FAILED: %s", name, i+1, run.Recovery.Err))
			}
			if run.Influxd != nil && run.Influxd.DirectStored < run.Influxd.Direct.TotalLines {
				notes = append(notes, fmt.Sprintf("%s run %d: direct influxd stored %d of %d acknowledged lines",
					name, i+1, run.Influxd.DirectStored, run.Influxd.Direct.TotalLines))
			}
			if len(run.Load.Errors) > 0 {
				notes = append(notes, fmt.Sprintf("%s run %d: errors %s", name, i+1, errorList(run.Load.Errors)))
			}
			for _, sk := range run.Sinks {
				if !sk.Down && sk.Delivered < sk.Expected {
					notes = append(notes, fmt.Sprintf("!! %s run %d: DELIVERY SHORTFALL at %s: %d of %d acknowledged lines after %v",
						name, i+1, sk.Name, sk.Delivered, sk.Expected, run.DrainWait.Round(time.Millisecond)))
				}
			}
		}
		if res.Err != "" && len(res.Runs) > 0 {
			notes = append(notes, fmt.Sprintf("!! %s: %s", name, res.Err))
		}
		if r.Meta.HarnessCPUs > 0 && s.HarnessCPU > 0.9*float64(r.Meta.HarnessCPUs) {
			notes = append(notes, fmt.Sprintf("%s: the harness used %.2f of its %d CPUs: it may have set the pace", name, s.HarnessCPU, r.Meta.HarnessCPUs))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
}

// coreIdle shows the pinned core's idle and iowait shares ("-" unpinned).
func coreIdle(s Summary) string {
	if s.CoreIdle == nil || s.CoreIOWait == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f%%/%.0f%%", 100**s.CoreIdle, 100**s.CoreIOWait)
}

// notRun says why a result has no runs ("" if it has some).
func notRun(res Result) string {
	switch {
	case len(res.Runs) > 0:
		return ""
	case res.NotApplicable != "":
		return "n/a: " + res.NotApplicable
	case res.Err != "":
		return "skipped: " + res.Err
	default:
		return "not run"
	}
}

func delivery(res Result) string {
	if res.Baseline {
		return "-"
	}
	if res.Median.Shortfall > 0 {
		return fmt.Sprintf("SHORT %d", res.Median.Shortfall)
	}
	return "ok"
}

func errorList(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// si formats a rate with a k or M suffix.
func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// dur formats a latency with three significant digits.
func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	}
}

// mb formats a size in MB (10^6 bytes), or GB when large.
func mb(n int64) string {
	if n >= 10e9 {
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	}
	return fmt.Sprintf("%.0f MB", float64(n)/1e6)
}
