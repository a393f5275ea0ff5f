package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// InfluxdResult compares ingest through the relay into two influxd with
// ingest straight into one. Ingest is the acknowledged lines of the whole
// run (warm-up included) over the time from the first request until every
// replica has stored them: a relay that acknowledges faster than its
// backends store only builds a backlog, so its acceptance rate alone would
// flatter it.
type InfluxdResult struct {
	Direct        LoadResult    `json:"direct"`
	DirectStored  int64         `json:"direct_stored"` // what the direct influxd counted
	DirectIngest  float64       `json:"direct_ingest_lines_per_sec"`
	ThroughIngest float64       `json:"through_ingest_lines_per_sec"`
	ThroughDrain  time.Duration `json:"through_drain_ns"` // after the load, until both replicas had everything
	Ratio         float64       `json:"ratio"`            // ThroughIngest / DirectIngest
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
	defer r.cleanup(dir)
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
	t0 := time.Now()
	dres, err := load(direct.Addr, nil)
	elapsed := time.Since(t0)
	ir := &InfluxdResult{Direct: dres, DirectIngest: perSec(dres.TotalLines, elapsed)}
	rr.Influxd = ir
	if err == nil {
		ir.DirectStored, err = direct.CountPoints("bench")
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
	replicas := []*Influxd{a, b}
	rc := RelayConfig{DataDir: filepath.Join(dir, "data"), Outputs: []Output{
		{Name: "influxd-a", Addr: a.Addr}, {Name: "influxd-b", Addr: b.Addr}}}
	rc.PProf = r.tracing(rel, run)
	p, err := StartRelay(rel, &rc, dir, r.AllCPUs, 0, r.RelayEnv)
	if err != nil {
		return rr, err
	}
	defer p.Stop(40 * time.Second)
	pid := p.PID()
	var cpu cpuWindow
	t0 = time.Now()
	res, err := load(rc.Bind, cpu.hook(pid, both(r.perf(sc, rel, run, pid), r.trace(sc, rel, run, rc.Bind))))
	if err != nil {
		return rr, err
	}
	loadEnd := time.Now()
	rr.Load = res
	rr.RelayCPU = cpu.cores(res.Window)
	rr.CPUPerLine = cpu.perLine(res.Lines)

	done := r.waitReplicas(ctx, rel, rc.Bind, replicas, res.TotalLines)
	ir.ThroughDrain = done.Sub(loadEnd)
	ir.ThroughIngest = perSec(res.TotalLines, done.Sub(t0))
	if ir.DirectIngest > 0 {
		ir.Ratio = ir.ThroughIngest / ir.DirectIngest
	}
	rr.DrainWait = ir.ThroughDrain
	for i, d := range replicas {
		n, err := d.CountPoints("bench")
		if err != nil {
			rr.Notes = append(rr.Notes, fmt.Sprintf("%s: count: %v", rc.Outputs[i].Name, err))
		}
		rr.Sinks = append(rr.Sinks, SinkReport{Name: rc.Outputs[i].Name, Expected: res.TotalLines, Delivered: n})
		rr.Shortfall += max(0, res.TotalLines-n)
	}
	if mem, err := ReadMemory(pid); err == nil {
		rr.PeakRSS = mem.HWM
	}
	return rr, nil
}

// waitReplicas returns the time at which every replica holds want points,
// or the drain timeout passed. influxgate's /health says so cheaply (no
// backlog left means every record was accepted); other relays are watched
// by counting the points, which is slower and itself loads influxd.
func (r *Runner) waitReplicas(ctx context.Context, rel Relay, relayAddr string, replicas []*Influxd, want int64) time.Time {
	deadline := time.Now().Add(r.DrainTimeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if rel.Durable() {
			hs, err := ReadHealth(relayAddr)
			if err == nil && len(hs) == len(replicas) {
				done := true
				for _, h := range hs {
					done = done && h.BacklogRecords == 0
				}
				if done {
					return time.Now()
				}
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		done := true
		for _, d := range replicas {
			if n, err := d.CountPoints("bench"); err != nil || n < want {
				done = false
				break
			}
		}
		if done {
			return time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return time.Now()
}
