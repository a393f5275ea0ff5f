package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/influxgate/influxgate/internal/bench"
)

// run builds what is needed, runs the scenarios and prints the report.
func (o *options) run(ctx context.Context, stdout, stderr io.Writer) error {
	scenarios, err := bench.FindScenarios(o.scenarios, o.long)
	if err != nil {
		return err
	}
	var window, warmup, drain time.Duration
	for _, f := range []struct {
		name, v string
		dst     *time.Duration
	}{{"duration", o.duration, &window}, {"warmup", o.warmup, &warmup}, {"drain-timeout", o.drainTimeout, &drain}} {
		d, err := time.ParseDuration(f.v)
		if err != nil || d < 0 {
			return fmt.Errorf("-%s %q: want a duration", f.name, f.v)
		}
		*f.dst = d
	}
	if window <= 0 || o.runs < 1 {
		return fmt.Errorf("need -duration > 0 and -runs >= 1")
	}
	for _, dir := range []string{o.perfDir, o.traceDir} {
		if dir == "" {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp(o.workDir, "influxgate-bench-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(tmp)
	}

	var progress io.Writer = stderr
	if o.quiet {
		progress = nil
	}
	var relays []bench.Relay
	if !o.noInfluxgate {
		path := o.influxgate
		if path == "" {
			if path, err = buildInfluxgate(ctx, tmp, progress); err != nil {
				return err
			}
		}
		relays = append(relays, bench.Relay{Name: "influxgate", Kind: bench.KindInfluxgate, Path: path})
	}
	relays = append(relays, o.relays...)
	if len(relays) == 0 && o.noCeiling {
		return fmt.Errorf("nothing to measure: no relay and no ceiling")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	influxd := o.influxd
	if _, err := os.Stat(influxd); err != nil {
		influxd = ""
	}

	r := &bench.Runner{Relays: relays, SinkCommand: []string{exe, "sink"}, Influxd: influxd, WorkDir: tmp, RelayEnv: o.relayEnv, Keep: o.keep,
		Warmup: warmup, Duration: window, Runs: o.runs, DrainTimeout: drain, NoCeiling: o.noCeiling,
		DownCapMB: o.downCapMB, PerfDir: o.perfDir, TraceDir: o.traceDir, Progress: progress}
	online, err := bench.OnlineCPUs()
	if err != nil {
		return err
	}
	layout := "unpinned"
	harnessCPUs := runtime.NumCPU()
	if o.pin >= 0 {
		r.ServerCPUs, r.ServerProcs = fmt.Sprint(o.pin), 1
		r.AllCPUs = bench.CPUList(online)
		harnessCPUs = runtime.GOMAXPROCS(0)
		layout = fmt.Sprintf("relay and ceiling sink on CPU %d (GOMAXPROCS=1), harness on the other %d", o.pin, harnessCPUs)
	}

	report := bench.Report{Meta: bench.Meta{Started: time.Now(), GoVersion: runtime.Version(), CPUs: len(online),
		CPUModel: bench.CPUModel(), Layout: layout, WorkDir: o.workDir, WorkDirFS: bench.FSType(o.workDir),
		LoadBefore: bench.LoadAvg(), Warmup: warmup, Duration: window, Runs: o.runs, Relays: relays,
		Influxd: influxd, HarnessCPUs: harnessCPUs, RelayEnv: o.relayEnv}}
	for _, sc := range scenarios {
		if ctx.Err() != nil {
			break
		}
		report.Results = append(report.Results, r.Run(ctx, sc)...)
	}
	report.Meta.LoadAfter = bench.LoadAvg()
	if progress != nil {
		fmt.Fprintln(progress)
	}
	report.WriteTable(stdout)
	if o.jsonPath != "" {
		if err := report.WriteJSON(o.jsonPath); err != nil {
			return err
		}
	}
	if o.markdownPath != "" {
		var md strings.Builder
		report.WriteMarkdown(&md)
		if err := os.WriteFile(o.markdownPath, []byte(md.String()), 0o644); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// buildInfluxgate builds ./cmd/influxgate of the module the current
// directory belongs to.
func buildInfluxgate(ctx context.Context, dir string, progress io.Writer) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(out))
	if err != nil || mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the influxgate module; pass -influxgate PATH")
	}
	bin := filepath.Join(dir, "influxgate")
	if progress != nil {
		fmt.Fprintln(progress, "building influxgate ...")
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/influxgate")
	cmd.Dir = filepath.Dir(mod)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build influxgate: %v\n%s", err, b)
	}
	return bin, nil
}
