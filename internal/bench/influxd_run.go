package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// InfluxdResult compares ingest through the relay into two influxd with
// ingest straight into one.
type InfluxdResult struct {
	Direct LoadResult `json:"direct"`
	// DirectStored is what the direct influxd counted after the load.
	DirectStored int64 `json:"direct_stored"`
	// Ratio is the relay's accepted lines/s over the direct lines/s.
	Ratio float64 `json:"ratio"`
}

// runInfluxd runs the influxd scenario once: the load straight into one
// influxd, then through the relay into two. Every request carries fresh
// timestamps so each influxd can count exactly what it stored. The relay
// and the influxd processes share AllCPUs (influxd needs more than one core
// to be the bottleneck it is in production); the harness stays where it is.
func (r *Runner) runInfluxd(ctx context.Context, sc Scenario, rel Relay, run int) (RunResult, error) {
	var rr RunResult
	dir, err := os.MkdirTemp(r.WorkDir, "influxgate-bench-influxd-")
	if err != nil {
		return rr, err
	}
	defer os.RemoveAll(dir)
	bodies, err := GenerateBodies(sc.Conns, sc.Lines, false, time.Now().Add(-24*time.Hour))
	if err != nil {
		return rr, err
	}
	load := func(addr string, hook func(bool)) (LoadResult, error) {
		return RunLoad(ctx, LoadConfig{Addr: addr, Target: "/write?db=bench", Conns: sc.Conns, Bodies: bodies,
			Unique: true, Warmup: r.Warmup, Duration: r.window(sc), OnWindow: hook})
	}
	start := func(name string) (*Influxd, error) {
		d, err := StartInfluxd(r.Influxd, filepath.Join(dir, name), r.AllCPUs)
		if err != nil {
			return nil, err
		}
		if err := d.CreateDatabase("bench"); err != nil {
			d.Stop(10 * time.Second)
			return nil, err
		}
		return d, nil
	}

	direct, err := start("direct")
	if err != nil {
		return rr, err
	}
	dres, err := load(direct.Addr, nil)
	if err == nil {
		rr.Influxd = &InfluxdResult{Direct: dres}
		rr.Influxd.DirectStored, err = direct.CountPoints("bench")
	}
	direct.Stop(10 * time.Second)
	if err != nil {
		return rr, fmt.Errorf("direct influxd: %w", err)
	}

	a, err := start("a")
	if err != nil {
		return rr, err
	}
	defer a.Stop(10 * time.Second)
	b, err := start("b")
	if err != nil {
		return rr, err
	}
	defer b.Stop(10 * time.Second)
	rc := RelayConfig{DataDir: filepath.Join(dir, "data"), Outputs: []Output{
		{Name: "influxd-a", URL: "http://" + a.Addr + "/write"}, {Name: "influxd-b", URL: "http://" + b.Addr + "/write"}}}
	if !rel.Durable() {
		rc.Outputs[0].BufferMB, rc.Outputs[1].BufferMB = 100, 100
	}
	p, err := StartRelay(rel, &rc, dir, r.AllCPUs, 0)
	if err != nil {
		return rr, err
	}
	defer p.Stop(40 * time.Second)
	pid := p.PID()
	var cpu cpuWindow
	res, err := load(rc.Bind, cpu.hook(pid, r.perf(sc, rel, run, pid)))
	if err != nil {
		return rr, err
	}
	rr.Load = res
	rr.RelayCPU = cpu.cores(res.Window)
	rr.CPUPerLine = cpu.perLine(res.Lines)
	if d := rr.Influxd.Direct.LinesPerSec(); d > 0 {
		rr.Influxd.Ratio = res.LinesPerSec() / d
	}

	// Wait for both replicas to hold everything that was acknowledged.
	begin := time.Now()
	for i, d := range []*Influxd{a, b} {
		name := rc.Outputs[i].Name
		var n int64
		for {
			n, err = d.CountPoints("bench")
			if err != nil || n >= res.TotalLines || time.Since(begin) > r.DrainTimeout || ctx.Err() != nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil {
			rr.Notes = append(rr.Notes, fmt.Sprintf("%s: count: %v", name, err))
		}
		rr.Sinks = append(rr.Sinks, SinkReport{Name: name, Expected: res.TotalLines, Delivered: n})
		rr.Shortfall += max(0, res.TotalLines-n)
	}
	rr.DrainWait = time.Since(begin)
	if mem, err := ReadMemory(pid); err == nil {
		rr.PeakRSS = mem.HWM
	}
	return rr, nil
}
