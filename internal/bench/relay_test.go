package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseRelay(t *testing.T) {
	for _, kind := range []string{KindInfluxDBRelay, KindInfluxProxy, KindInmate} {
		r, err := ParseRelay(kind + "=/opt/" + kind)
		if err != nil || r.Kind != kind || r.Name != kind || r.Path != "/opt/"+kind || r.Durable() || r.Shards() {
			t.Errorf("ParseRelay(%s) = %+v, %v (durable %v, shards %v)", kind, r, err, r.Durable(), r.Shards())
		}
	}
	r, err := ParseRelay("gate-old=/opt/ig")
	if err != nil || r.Kind != KindInfluxgate || r.Name != "gate-old" || !r.Durable() || !r.Shards() {
		t.Errorf("ParseRelay = %+v, %v", r, err)
	}
	for _, bad := range []string{"x", "=y", "x="} {
		if _, err := ParseRelay(bad); err == nil {
			t.Errorf("ParseRelay(%q) accepted", bad)
		}
	}
}

func TestFindScenarios(t *testing.T) {
	all, err := FindScenarios("all", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if s.Long {
			t.Errorf("all without long includes %s", s.Name)
		}
	}
	withLong, _ := FindScenarios("all", true)
	if len(withLong) != len(Scenarios) || len(all) >= len(withLong) {
		t.Errorf("all: %d, with long %d, known %d", len(all), len(withLong), len(Scenarios))
	}
	for _, name := range []string{"single-line", "shards"} {
		if got, err := FindScenarios(name, false); err != nil || len(got) != 1 || got[0].Name != name {
			t.Errorf("FindScenarios(%s) = %v, %v", name, got, err)
		}
	}
	some, err := FindScenarios("small, large,small,backend-down-5m", false)
	if err != nil || len(some) != 3 || some[0].Name != "small" || some[2].Name != "backend-down-5m" {
		t.Errorf("FindScenarios = %v, %v", some, err)
	}
	if _, err := FindScenarios("larg", false); err == nil || !strings.Contains(err.Error(), "large") {
		t.Errorf("unknown scenario: %v", err)
	}
}

func TestReportShowsShortfallLoudly(t *testing.T) {
	run := RunResult{Load: LoadResult{Window: 1e9, Lines: 1000, Requests: 10, TotalLines: 1200},
		Sinks:     []SinkReport{{Name: "sink-1", Expected: 1200, Delivered: 1200}, {Name: "sink-2", Expected: 1200, Delivered: 1100}},
		Shortfall: 100}
	rep := Report{Results: []Result{{Scenario: Scenarios[0], Relay: "influxgate", Runs: []RunResult{run},
		Median: summarizeRuns([]RunResult{run})}}}
	var out bytes.Buffer
	rep.WriteTable(&out)
	s := out.String()
	if !strings.Contains(s, "SHORT 100") || !strings.Contains(s, "DELIVERY SHORTFALL at sink-2: 1100 of 1200") {
		t.Errorf("table does not flag the shortfall:\n%s", s)
	}
	if !strings.Contains(s, "1.0k") { // 1000 lines/s
		t.Errorf("table lacks the rate:\n%s", s)
	}
}
