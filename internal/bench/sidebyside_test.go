package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// result makes a one-run result of lines/s with a ceiling.
func result(sc Scenario, relay string, linesPerSec, ceiling float64, cpuNS float64) Result {
	run := RunResult{Load: LoadResult{Window: time.Second, Lines: int64(linesPerSec), Requests: 1,
		Latency: Latency{P99: 3 * time.Millisecond}}, CPUPerLine: cpuNS, PeakRSS: 50e6}
	if ceiling > 0 {
		run.Ceiling = &Ceiling{Load: LoadResult{Window: time.Second, Lines: int64(ceiling)}}
	}
	return Result{Scenario: sc, Relay: relay, Runs: []RunResult{run}, Median: summarizeRuns([]RunResult{run})}
}

func sideBySideReport(t *testing.T) Report {
	t.Helper()
	scs, err := FindScenarios("large,shards", false)
	if err != nil {
		t.Fatal(err)
	}
	large, shards := scs[0], scs[1]
	ceiling := result(large, "sink-direct", 10e6, 0, 40)
	ceiling.Baseline = true
	return Report{
		Meta: Meta{Started: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC), CPUModel: "Test CPU", CPUs: 2, GoVersion: "go1.26.8",
			Layout: "relay on CPU 1", Runs: 3, Relays: []Relay{{Name: "influxgate", Kind: KindInfluxgate}, {Name: "influxdb-relay", Kind: KindInfluxDBRelay}}},
		Results: []Result{
			ceiling,
			result(large, "influxgate", 3e6, 10e6, 300),
			result(large, "influxdb-relay", 750e3, 10e6, 1200),
			result(shards, "influxgate", 2e6, 9e6, 400),
			{Scenario: shards, Relay: "influxdb-relay", NotApplicable: "no sharded listener"},
		},
	}
}

func TestSideBySideTable(t *testing.T) {
	rep := sideBySideReport(t)
	var out bytes.Buffer
	rep.WriteTable(&out)
	s := out.String()
	for _, want := range []string{
		"side by side",
		"ceiling (sink-direct)",
		"4.00",                     // influxgate × influxdb-relay: 3M / 750k
		"8%",                       // influxdb-relay's share of the ceiling
		"n/a: no sharded listener", // a peer in the shards scenario
	} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
	// Without influxgate the first relay is the reference, and the column
	// says so.
	peers := Report{Meta: Meta{Relays: rep.Meta.Relays[1:]}, Results: rep.Results[2:3]}
	peers.Results = append(peers.Results, result(rep.Results[2].Scenario, "inmate", 1.5e6, 10e6, 250))
	out.Reset()
	peers.WriteTable(&out)
	if !strings.Contains(out.String(), "influxdb-relay ×") || strings.Contains(out.String(), "influxgate ×") || !strings.Contains(out.String(), "0.50") {
		t.Errorf("peers-only side by side:\n%s", out.String())
	}
	// One relay alone gets no side-by-side table (it would repeat the first).
	one := Report{Results: rep.Results[:2]}
	out.Reset()
	one.WriteTable(&out)
	if strings.Contains(out.String(), "side by side") {
		t.Errorf("side-by-side table for one relay:\n%s", out.String())
	}
}

func TestSideBySideMarkdown(t *testing.T) {
	var out bytes.Buffer
	sideBySideReport(t).WriteMarkdown(&out)
	s := out.String()
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if !strings.HasPrefix(lines[0], "Measured 2026-12-06 ") || !strings.Contains(lines[0], "Test CPU (2 CPUs)") || !strings.Contains(lines[0], "medians of 3 runs") {
		t.Errorf("header names no date or machine: %q", lines[0])
	}
	var rows []string
	for _, l := range lines {
		if strings.HasPrefix(l, "|") {
			rows = append(rows, l)
		}
	}
	if len(rows) != 2+5 { // header, rule, five results
		t.Fatalf("want 7 table rows, got %d:\n%s", len(rows), s)
	}
	cols := strings.Count(rows[0], "|")
	for _, r := range rows {
		if strings.Count(r, "|") != cols {
			t.Errorf("row %q has a different column count than the header", r)
		}
	}
	if !strings.Contains(s, "| large | influxdb-relay | 750.0k | 8% | 1200 ns | 3.00ms | 50 MB | 4.00 | ok |") {
		t.Errorf("influxdb-relay row missing or wrong:\n%s", s)
	}
}
