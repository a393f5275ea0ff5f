package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// Runner runs scenarios against relays and collects the results.
type Runner struct {
	Relays []Relay
	// ServerCPUs pins each relay and the ceiling sink (taskset -c list;
	// "" leaves them free) and ServerProcs is their GOMAXPROCS (0 = Go's
	// default). The harness itself is pinned by the caller.
	ServerCPUs  string
	ServerProcs int
	// AllCPUs is the taskset list for influxd and the relay in the influxd
	// scenario, which need more than one core ("" = free).
	AllCPUs string
	// SinkCommand starts a sink process (the bench binary's "sink"
	// subcommand); it measures the ceiling.
	SinkCommand []string
	// RelayEnv is added to every relay's environment (GOGC=50, ...).
	RelayEnv []string
	Influxd  string // influxd binary for the influxd scenario
	WorkDir  string // parent of every run's temporary directory

	Warmup, Duration time.Duration
	Runs             int
	DrainTimeout     time.Duration // how long delivery may lag behind the load
	NoCeiling        bool          // skip the sink-direct ceiling
	// DownCapMB is influxgate's buffer-size-mb for a sink that is down, so
	// that long runs cannot fill the disk (0 = no cap).
	DownCapMB int
	// PerfDir, if set, receives a `perf record -g` profile of each relay
	// over the first run's window.
	PerfDir string
	// TraceDir, if set, receives a Go execution trace of each influxgate
	// build over the first run's window (its [debug] pprof is turned on
	// for that run only).
	TraceDir string
	// Keep leaves every run's directory (configs, logs, data) in WorkDir.
	Keep     bool
	Progress io.Writer // progress messages; nil = none
}

func (r *Runner) cleanup(dir string) {
	if r.Keep {
		r.logf("  kept %s", dir)
		return
	}
	os.RemoveAll(dir)
}

func (r *Runner) logf(format string, args ...any) {
	if r.Progress != nil {
		fmt.Fprintf(r.Progress, format+"\n", args...)
	}
}

// Run runs sc Runs times for every relay and returns one result per relay,
// preceded by the sink-direct ceiling's (unless NoCeiling, and except for
// the influxd scenario, whose baseline is a direct influxd).
func (r *Runner) Run(ctx context.Context, sc Scenario) []Result {
	base := Result{Scenario: sc, Relay: "sink-direct", Baseline: true}
	results := make([]Result, len(r.Relays))
	for i, rel := range r.Relays {
		results[i] = Result{Scenario: sc, Relay: rel.Name}
	}
	if sc.Influxd && r.Influxd == "" {
		for i := range results {
			results[i].Err = "no influxd binary"
		}
		return results
	}
	for i, rel := range r.Relays {
		switch {
		case sc.Sync != "" && !rel.Durable():
			results[i].NotApplicable = "no sync policy"
		case sc.Shards > 0 && !rel.Shards():
			results[i].NotApplicable = "no sharded listener"
		case sc.NATS > 0 && !rel.Durable():
			results[i].NotApplicable = "no log engine"
		}
	}
	bodies, err := GenerateBodiesOver(bodyCount(sc.Lines), sc.Lines, sc.Measurements, sc.Gzip, time.Now().Add(-24*time.Hour))
	if err != nil {
		for i := range results {
			results[i].Err = err.Error()
		}
		return results
	}
	for run := range r.Runs {
		var ceiling *Ceiling
		if !r.NoCeiling && !sc.Influxd {
			r.logf("%s run %d: ceiling", sc.Name, run+1)
			c, err := r.ceiling(ctx, sc, bodies)
			if err != nil {
				base.Err = err.Error()
				r.logf("  ceiling: %v", err)
			} else {
				ceiling = c
				rr := RunResult{Load: c.Load, RelayCPU: c.CPU, CPUPerLine: c.CPUPerLine, PeakRSS: c.PeakRSS}
				r.logf("  %s", rr.brief())
				base.Runs = append(base.Runs, rr)
			}
		}
		for i, rel := range r.Relays {
			if results[i].Err != "" || results[i].NotApplicable != "" || ctx.Err() != nil {
				continue
			}
			r.logf("%s run %d: %s", sc.Name, run+1, rel.Name)
			var rr RunResult
			if sc.Influxd {
				rr, err = r.runInfluxd(ctx, sc, rel, run)
			} else {
				rr, err = r.runSinks(ctx, sc, rel, bodies, run)
			}
			if err != nil {
				results[i].Err = err.Error()
				r.logf("  %v", err)
				continue
			}
			rr.Ceiling = ceiling
			r.logf("  %s", rr.brief())
			results[i].Runs = append(results[i].Runs, rr)
		}
	}
	for i := range results {
		results[i].Median = summarizeRuns(results[i].Runs)
	}
	if r.NoCeiling || sc.Influxd {
		return results
	}
	base.Median = summarizeRuns(base.Runs)
	return append([]Result{base}, results...)
}

// bodyCount is how many bodies a scenario cycles through: at least 16, and
// enough that every one of the generated series is sent (a single-line load
// of 16 bodies would repeat 16 points).
func bodyCount(lines int) int {
	return max(16, (Series+lines-1)/lines)
}

func (r *Runner) window(sc Scenario) time.Duration {
	if sc.Duration > 0 {
		return sc.Duration
	}
	return r.Duration
}

func (r *Runner) serverEnv() []string {
	if r.ServerProcs > 0 {
		return []string{"GOMAXPROCS=" + strconv.Itoa(r.ServerProcs)}
	}
	return nil
}

// ceiling sends the scenario's load straight into one sink process that
// sits where the relay would (same CPUs, same GOMAXPROCS).
func (r *Runner) ceiling(ctx context.Context, sc Scenario, bodies []Body) (*Ceiling, error) {
	dir, err := os.MkdirTemp(r.WorkDir, "influxgate-bench-ceiling-")
	if err != nil {
		return nil, err
	}
	defer r.cleanup(dir)
	sp, err := StartSinkProcess(r.SinkCommand, r.ServerCPUs, r.serverEnv(), filepath.Join(dir, "sink.log"))
	if err != nil {
		return nil, err
	}
	defer sp.Stop(5 * time.Second)
	var cpu cpuWindow
	res, err := RunLoad(ctx, LoadConfig{Addr: sp.Addr, Target: "/write?db=" + benchDB, Conns: sc.Conns,
		Bodies: bodies, Gzip: sc.Gzip, Warmup: r.Warmup, Duration: r.window(sc),
		OnWindow: cpu.hook(sp.PID(), nil)})
	if err != nil {
		return nil, err
	}
	mem, _ := ReadMemory(sp.PID())
	return &Ceiling{Load: res, CPU: cpu.cores(res.Window), CPUPerLine: cpu.perLine(res.Lines), PeakRSS: mem.HWM}, nil
}

// cpuWindow records a process's CPU time at the window's start and end,
// and, when pinned (the relay on one core), that core's own accounting
// from /proc/stat.
type cpuWindow struct {
	start, end time.Duration
	pinned     bool
	core       int
	c0, c1     CoreTimes
	coreErr    error
}

// newCPUWindow watches the pinned core of r, if it pins to a single one.
func (r *Runner) newCPUWindow() *cpuWindow {
	var w cpuWindow
	if cpus, err := parseCPUList(r.ServerCPUs); err == nil && len(cpus) == 1 {
		w.pinned, w.core = true, cpus[0]
	}
	return &w
}

// hook returns a LoadConfig.OnWindow that reads pid's CPU time and also
// calls also (if set).
func (w *cpuWindow) hook(pid int, also func(bool)) func(bool) {
	return func(start bool) {
		t, _ := CPUTime(pid)
		var c CoreTimes
		if w.pinned {
			var err error
			if c, err = ReadCoreTimes(w.core); err != nil {
				w.coreErr = err
			}
		}
		if start {
			w.start, w.c0 = t, c
		} else {
			w.end, w.c1 = t, c
		}
		if also != nil {
			also(start)
		}
	}
}

// noteCore fills rr's core shares from the window, when a core was watched.
func (w *cpuWindow) noteCore(rr *RunResult) {
	if !w.pinned || w.coreErr != nil {
		return
	}
	if idle, iowait, ok := coreShares(w.c0, w.c1); ok {
		rr.CoreIdle, rr.CoreIOWait = &idle, &iowait
	}
}

func (w *cpuWindow) perLine(lines int64) float64 {
	if lines == 0 {
		return 0
	}
	return float64(w.end-w.start) / float64(lines)
}

func (w *cpuWindow) cores(window time.Duration) float64 {
	return (w.end - w.start).Seconds() / window.Seconds()
}

// perf returns an OnWindow hook that profiles pid with perf over the first
// run's window, or nil.
func (r *Runner) perf(sc Scenario, rel Relay, run, pid int) func(bool) {
	if r.PerfDir == "" || run != 0 {
		return nil
	}
	var cmd *exec.Cmd
	return func(start bool) {
		if start {
			out := filepath.Join(r.PerfDir, fmt.Sprintf("%s-%s.perf.data", sc.Name, rel.Name))
			secs := strconv.FormatFloat(r.window(sc).Seconds(), 'f', 1, 64)
			cmd = exec.Command("perf", "record", "-q", "-F", "999", "-g", "-p", strconv.Itoa(pid), "-o", out, "--", "sleep", secs)
			if err := cmd.Start(); err != nil {
				r.logf("  perf: %v", err)
				cmd = nil
			}
			return
		}
		if cmd != nil {
			if err := cmd.Wait(); err != nil {
				r.logf("  perf: %v", err)
			}
		}
	}
}

// tracing reports whether this run of rel records an execution trace.
func (r *Runner) tracing(rel Relay, run int) bool {
	return r.TraceDir != "" && run == 0 && rel.Kind == KindInfluxgate
}

// trace returns an OnWindow hook that saves a Go execution trace of the
// relay serving addr over the first run's window, or nil. The relay
// writes the trace through /debug/pprof/trace, which runs for the
// requested seconds and then answers with the whole trace.
func (r *Runner) trace(sc Scenario, rel Relay, run int, addr string) func(bool) {
	if !r.tracing(rel, run) {
		return nil
	}
	var done chan error
	return func(start bool) {
		if start {
			out := filepath.Join(r.TraceDir, fmt.Sprintf("%s-%s.trace", sc.Name, rel.Name))
			url := fmt.Sprintf("http://%s/debug/pprof/trace?seconds=%g", addr, r.window(sc).Seconds())
			done = make(chan error, 1)
			go func() { done <- saveURL(url, out, r.window(sc)+30*time.Second) }()
			return
		}
		if done != nil {
			if err := <-done; err != nil {
				r.logf("  trace: %v", err)
			}
		}
	}
}

// saveURL writes the body of a GET of url to the file out.
func saveURL(url, out string, timeout time.Duration) error {
	c := http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(msg))
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// both runs two OnWindow hooks, either of which may be nil.
func both(a, b func(bool)) func(bool) {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return func(start bool) {
		a(start)
		b(start)
	}
}

// waitLines polls until every sink i has at least want[i] lines or
// timeout passes, and returns how long it waited.
func waitLines(ctx context.Context, sinks []*Sink, want []int64, timeout time.Duration) time.Duration {
	start := time.Now()
	for {
		done := true
		for i, s := range sinks {
			if s.Stats().Lines < want[i] {
				done = false
			}
		}
		if done || time.Since(start) > timeout || ctx.Err() != nil {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runSinks runs sc once against rel in front of its sinks.
func (r *Runner) runSinks(ctx context.Context, sc Scenario, rel Relay, bodies []Body, run int) (RunResult, error) {
	var rr RunResult
	dir, err := os.MkdirTemp(r.WorkDir, "influxgate-bench-"+sc.Name+"-")
	if err != nil {
		return rr, err
	}
	defer r.cleanup(dir)

	set, err := startRunSinks(sc)
	defer set.close()
	if err != nil {
		return rr, err
	}
	rc := set.rc
	rc.DataDir, rc.Sync = filepath.Join(dir, "data"), sc.Sync
	if sc.Down && rel.Durable() {
		rc.Outputs[1].BufferMB = r.DownCapMB
	}
	if sc.NATS > 0 {
		nc, store, err := startNATS(dir, sc.NATS, sc.NATSSync)
		if err != nil {
			return rr, err
		}
		defer nc.stop()
		rc.LogStore = store
	}
	rc.PProf = r.tracing(rel, run)
	p, err := StartRelay(rel, &rc, dir, r.ServerCPUs, r.ServerProcs, r.RelayEnv)
	if err != nil {
		return rr, err
	}
	defer p.Stop(40 * time.Second)
	pid := p.PID()
	sampler := SampleRSS(pid, 250*time.Millisecond)

	cpu := r.newCPUWindow()
	res, err := RunLoad(ctx, LoadConfig{Addr: rc.Bind, Target: "/write?db=" + benchDB, Conns: sc.Conns,
		Bodies: bodies, Gzip: sc.Gzip, Warmup: r.Warmup, Duration: r.window(sc),
		OnWindow: cpu.hook(pid, both(r.perf(sc, rel, run, pid), r.trace(sc, rel, run, rc.Bind)))})
	if err != nil {
		sampler.Stop()
		return rr, err
	}
	rr.Load = res
	rr.RelayCPU = cpu.cores(res.Window)
	rr.CPUPerLine = cpu.perLine(res.Lines)
	cpu.noteCore(&rr)

	want, err := set.expected(res, bodies)
	if err != nil {
		sampler.Stop()
		return rr, err
	}
	rr.DrainWait = waitLines(ctx, set.sinks, want, r.DrainTimeout)
	for i, s := range set.sinks {
		rr.Sinks = append(rr.Sinks, sinkReport(set.names[i], s, want[i], set.down[i]))
	}
	if spread := set.shardSpread(want); spread != "" {
		rr.Notes = append(rr.Notes, spread)
	}
	if sc.Down {
		rr.DataDirBytes = dirSize(rc.DataDir)
		if rel.Durable() {
			if hs, err := ReadHealth(rc.Bind); err == nil {
				for _, h := range hs {
					if h.Name == "sink-2" {
						rr.Backlog = &h
					}
				}
			} else {
				rr.Notes = append(rr.Notes, "health: "+err.Error())
			}
		}
	}
	if sc.Recovery {
		rr.Recovery = r.recover(ctx, set.sinks[1], res.TotalLines)
		rr.Sinks[1] = sinkReport("sink-2", set.sinks[1], res.TotalLines, false)
	}
	if p.Exited() {
		rr.Notes = append(rr.Notes, "relay exited during the run; log tail:\n"+p.LogTail(10))
	} else if mem, err := ReadMemory(pid); err == nil {
		rr.PeakRSS = mem.HWM
	}
	rr.RSS = sampler.Stop()
	for _, s := range rr.Sinks {
		if !s.Down {
			rr.Shortfall += max(0, s.Expected-s.Delivered)
		}
	}
	return rr, nil
}

func sinkReport(name string, s *Sink, want int64, down bool) SinkReport {
	st := s.Stats()
	return SinkReport{Name: name, Expected: want, Delivered: st.Lines, Requests: st.Requests, Down: down}
}

// recover brings the down sink back and measures how fast its backlog of
// want lines arrives. The rate is taken from the first delivered line, so
// the relay's retry backoff (the wait until it notices the sink is back) is
// reported apart from it.
func (r *Runner) recover(ctx context.Context, s *Sink, want int64) *Recovery {
	rec := &Recovery{Lines: want}
	if err := s.Up(); err != nil {
		rec.Err = err.Error()
		return rec
	}
	up := time.Now()
	deadline := up.Add(r.DrainTimeout + 30*time.Second) // plus the longest backoff
	var first time.Time
	var firstLines int64
	for ctx.Err() == nil && time.Now().Before(deadline) {
		n := s.Stats().Lines
		now := time.Now()
		if n > 0 && first.IsZero() {
			first, firstLines = now, n
			rec.FirstAfter = now.Sub(up)
		}
		if n >= want {
			rec.Drain = now.Sub(first)
			if rec.Drain > 0 {
				rec.LinesPerSec = float64(n-firstLines) / rec.Drain.Seconds()
			}
			return rec
		}
		time.Sleep(5 * time.Millisecond)
	}
	rec.Err = fmt.Sprintf("backlog not drained: %d of %d lines after %v", s.Stats().Lines, want, time.Since(up).Round(time.Millisecond))
	return rec
}
