package bench

import (
	"bytes"
	"strings"
	"testing"

	"github.com/influxgate/influxgate/internal/config"
)

// The generated configs must load with influxgate's own loader, in the
// dialect the relay kind claims.
func TestConfigTextLoads(t *testing.T) {
	rc := RelayConfig{Bind: "127.0.0.1:9999", DataDir: "/tmp/x y", Sync: "batch", Outputs: []Output{
		{Name: "sink-1", URL: "http://127.0.0.1:1/write"},
		{Name: "sink-2", URL: "http://127.0.0.1:2/write", BufferMB: 64}}}
	for _, tc := range []struct {
		kind   string
		format config.Format
	}{{KindInfluxgate, config.FormatNative}, {KindInfluxDBRelay, config.FormatRelay}} {
		text := Relay{Name: tc.kind, Kind: tc.kind}.configText(rc)
		cfg, err := config.LoadBytes("bench.toml", []byte(text))
		if err != nil {
			t.Fatalf("%s config does not load: %v\n%s", tc.kind, err, text)
		}
		if cfg.Source.Format != tc.format {
			t.Errorf("%s config loads as %s", tc.kind, cfg.Source.Format)
		}
		if len(cfg.HTTP) != 1 || cfg.HTTP[0].BindAddr != rc.Bind || len(cfg.HTTP[0].Outputs) != 2 {
			t.Fatalf("%s config: %+v", tc.kind, cfg.HTTP)
		}
		out := cfg.HTTP[0].Outputs
		if out[0].Location.Reveal() != rc.Outputs[0].URL || out[1].Name != "sink-2" || out[1].BufferSizeMB != 64 || out[0].BufferSizeMB != 0 {
			t.Errorf("%s outputs: %+v", tc.kind, out)
		}
		if tc.kind == KindInfluxgate && (cfg.Sync != "batch" || cfg.DataDir != rc.DataDir) {
			t.Errorf("influxgate config: sync %q, data-dir %q", cfg.Sync, cfg.DataDir)
		}
	}
}

func TestParseRelay(t *testing.T) {
	r, err := ParseRelay("influxdb-relay=/opt/relay")
	if err != nil || r.Kind != KindInfluxDBRelay || r.Path != "/opt/relay" || r.Durable() {
		t.Errorf("ParseRelay = %+v, %v", r, err)
	}
	r, err = ParseRelay("gate-old=/opt/ig")
	if err != nil || r.Kind != KindInfluxgate || r.Name != "gate-old" || !r.Durable() {
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
