package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// The side-by-side table: per scenario, the ceiling and every relay of the
// run with the figures the issue compares relays by, and each relay's
// throughput against influxgate's (the first influxgate-kind relay). It
// follows the full table when more than one relay was measured, and
// -markdown writes it for the docs, headed by the date and the machine.

// sideColumns are the side-by-side table's columns; "REF ×" is the
// reference relay's lines/s divided by the row's.
func (r Report) sideColumns() []string {
	return []string{"scenario", "relay", "lines/s", "of ceiling", "cpu/line", "p99", "peak RSS", r.reference() + " ×", "delivery"}
}

// relayCount is the number of relays (not the ceiling) in the results.
func (r Report) relayCount() int {
	seen := map[string]bool{}
	for _, res := range r.Results {
		if !res.Baseline {
			seen[res.Relay] = true
		}
	}
	return len(seen)
}

// reference is the relay the others are compared with: the first relay of
// kind influxgate, else the first relay.
func (r Report) reference() string {
	for _, rel := range r.Meta.Relays {
		if rel.Kind == KindInfluxgate {
			return rel.Name
		}
	}
	for _, res := range r.Results {
		if !res.Baseline {
			return res.Relay
		}
	}
	return ""
}

// sideRows returns the side-by-side table's cells, one row per result.
func (r Report) sideRows() [][]string {
	ref := r.reference()
	refRate := map[string]float64{} // scenario → the reference's lines/s
	for _, res := range r.Results {
		if res.Relay == ref && !res.Baseline && len(res.Runs) > 0 {
			refRate[res.Scenario.Name] = res.Median.LinesPerSec
		}
	}
	var rows [][]string
	for _, res := range r.Results {
		s := res.Median
		name := res.Relay
		if res.Baseline {
			name = "ceiling (" + res.Relay + ")"
		}
		if why := notRun(res); why != "" {
			rows = append(rows, []string{res.Scenario.Name, name, why, "", "", "", "", "", ""})
			continue
		}
		of, times := "-", "-"
		if s.Ceiling > 0 {
			of = fmt.Sprintf("%.0f%%", 100*s.LinesPerSec/s.Ceiling)
		}
		if rate := refRate[res.Scenario.Name]; !res.Baseline && rate > 0 && s.LinesPerSec > 0 {
			times = fmt.Sprintf("%.2f", rate/s.LinesPerSec)
		}
		rows = append(rows, []string{res.Scenario.Name, name, si(s.LinesPerSec), of,
			fmt.Sprintf("%.0f ns", s.CPUPerLine), dur(s.P99), mb(s.PeakRSS), times, delivery(res)})
	}
	return rows
}

// writeSideBySide prints the side-by-side table aligned.
func (r Report) writeSideBySide(w io.Writer) {
	ref := r.reference()
	fmt.Fprintf(w, "side by side (%s × = %s's lines/s ÷ the row's):\n", ref, ref)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(r.sideColumns(), "\t")+"\t")
	for _, row := range r.sideRows() {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
}

// WriteMarkdown writes the side-by-side table as Markdown, headed by the
// date, the machine and the settings of the run, for pasting into the
// docs as it is.
func (r Report) WriteMarkdown(w io.Writer) {
	m := r.Meta
	fmt.Fprintf(w, "Measured %s with influxgate-bench on %s (%d CPUs), %s; %s; warm-up %v, window %v, medians of %d runs; data on %s; load average %s before, %s after.\n\n",
		m.Started.Format(time.DateOnly), m.CPUModel, m.CPUs, m.GoVersion, m.Layout, m.Warmup, m.Duration, m.Runs, m.WorkDirFS, m.LoadBefore, m.LoadAfter)
	cols := r.sideColumns()
	fmt.Fprintf(w, "| %s |\n", strings.Join(cols, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(cols)))
	for _, row := range r.sideRows() {
		for i, c := range row {
			row[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
}
