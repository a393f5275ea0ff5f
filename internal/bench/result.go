package bench

import (
	"fmt"
	"time"
)

// Result is one scenario against one relay: every run and their medians.
type Result struct {
	Scenario Scenario    `json:"scenario"`
	Relay    string      `json:"relay"`
	Runs     []RunResult `json:"runs"`
	Median   Summary     `json:"median"`
	Err      string      `json:"error,omitempty"`
	// NotApplicable says why the relay does not run this scenario (a sync
	// policy or sharding it does not have).
	NotApplicable string `json:"not_applicable,omitempty"`
	// Baseline marks the sink-direct ceiling: the load sent straight into
	// one sink that sits where the relay would.
	Baseline bool `json:"baseline,omitempty"`
}

// RunResult is one run of a scenario against one relay.
type RunResult struct {
	Load LoadResult `json:"load"`
	// Ceiling is the same load sent straight into one sink in the relay's
	// place, measured in the same run.
	Ceiling *Ceiling `json:"ceiling,omitempty"`
	// RelayCPU is the relay's CPU use over the window, in cores;
	// CPUPerLine divides it by the accepted lines (ns per line).
	RelayCPU   float64 `json:"relay_cpu_cores"`
	CPUPerLine float64 `json:"relay_cpu_ns_per_line"`
	// CoreIdle and CoreIOWait are the shares of the window (0 to 1) in
	// which the relay's pinned core was idle, and idle while a task that
	// last ran there waited for I/O (a core waiting on the disk); nil
	// when the relay was not pinned to one core.
	CoreIdle   *float64 `json:"core_idle,omitempty"`
	CoreIOWait *float64 `json:"core_iowait,omitempty"`
	// PeakRSS is the relay's VmHWM at the end of the run.
	PeakRSS int64      `json:"peak_rss_bytes"`
	RSS     []RSSPoint `json:"rss,omitempty"`
	// Sinks says what each backend received after the drain.
	Sinks []SinkReport `json:"sinks"`
	// Shortfall is the acknowledged lines missing at backends that were up,
	// after waiting DrainWait (at most the drain timeout).
	Shortfall int64         `json:"shortfall_lines"`
	DrainWait time.Duration `json:"drain_wait_ns"`
	// Backlog is influxgate's /health entry for the down sink after the load.
	Backlog      *BackendHealth `json:"backlog,omitempty"`
	DataDirBytes int64          `json:"data_dir_bytes,omitempty"`
	Recovery     *Recovery      `json:"recovery,omitempty"`
	Influxd      *InfluxdResult `json:"influxd,omitempty"`
	Notes        []string       `json:"notes,omitempty"`
}

// Ceiling is the sink-direct measurement.
type Ceiling struct {
	Load       LoadResult `json:"load"`
	CPU        float64    `json:"sink_cpu_cores"`
	CPUPerLine float64    `json:"sink_cpu_ns_per_line"`
	PeakRSS    int64      `json:"sink_peak_rss_bytes"`
}

// SinkReport is what one backend received.
type SinkReport struct {
	Name      string `json:"name"`
	Expected  int64  `json:"expected_lines"` // acknowledged lines of the run
	Delivered int64  `json:"delivered_lines"`
	Requests  int64  `json:"requests,omitempty"`
	Down      bool   `json:"down,omitempty"` // down for the whole run: not expected to have anything
}

// Recovery is the drain of a backlog into a sink that came back.
type Recovery struct {
	Lines int64 `json:"lines"` // the backlog to drain
	// FirstAfter is how long after the sink came back the first line
	// arrived (the relay's retry backoff).
	FirstAfter  time.Duration `json:"first_after_ns"`
	Drain       time.Duration `json:"drain_ns"` // first line to last
	LinesPerSec float64       `json:"lines_per_sec"`
	Err         string        `json:"error,omitempty"`
}

// brief is a one-line progress summary of a run.
func (rr RunResult) brief() string {
	s := fmt.Sprintf("%s lines/s, p99 %s, cpu %.0f ns/line, rss %s", si(rr.Load.LinesPerSec()),
		dur(rr.Load.Latency.P99), rr.CPUPerLine, mb(rr.PeakRSS))
	if rr.CoreIdle != nil && rr.CoreIOWait != nil {
		s += fmt.Sprintf(", core idle %.0f%% + iowait %.0f%%", 100**rr.CoreIdle, 100**rr.CoreIOWait)
	}
	if rr.Ceiling != nil {
		s += fmt.Sprintf(", ceiling %s", si(rr.Ceiling.Load.LinesPerSec()))
	}
	if rr.Recovery != nil {
		s += fmt.Sprintf(", drain %s lines/s", si(rr.Recovery.LinesPerSec))
	}
	if rr.Influxd != nil {
		s += fmt.Sprintf(", ingest direct %s, through %s, ratio %.2f", si(rr.Influxd.DirectIngest), si(rr.Influxd.ThroughIngest), rr.Influxd.Ratio)
	}
	if rr.Shortfall > 0 {
		s += fmt.Sprintf(", SHORTFALL %d lines", rr.Shortfall)
	}
	return s
}

// Summary holds the medians over a result's runs (Shortfall and Errors are
// the largest of any run: one lossy run is one too many).
type Summary struct {
	LinesPerSec    float64       `json:"lines_per_sec"`
	RequestsPerSec float64       `json:"requests_per_sec"`
	P50            time.Duration `json:"p50_ns"`
	P99            time.Duration `json:"p99_ns"`
	Max            time.Duration `json:"max_ns"`
	Errors         int64         `json:"errors"`
	CPUPerLine     float64       `json:"relay_cpu_ns_per_line"`
	RelayCPU       float64       `json:"relay_cpu_cores"`
	CoreIdle       *float64      `json:"core_idle,omitempty"`
	CoreIOWait     *float64      `json:"core_iowait,omitempty"`
	PeakRSS        int64         `json:"peak_rss_bytes"`
	HarnessCPU     float64       `json:"harness_cpu_cores"`
	Ceiling        float64       `json:"ceiling_lines_per_sec,omitempty"`
	Shortfall      int64         `json:"shortfall_lines"`
	BacklogBytes   int64         `json:"backlog_bytes,omitempty"`
	RSSFirst       int64         `json:"rss_early_bytes,omitempty"` // RSS a fifth of the way through the run
	RSSLast        int64         `json:"rss_last_bytes,omitempty"`  // RSS at the end of the run
	DrainPerSec    float64       `json:"drain_lines_per_sec,omitempty"`
	DrainFirst     time.Duration `json:"drain_first_after_ns,omitempty"`
	Direct         float64       `json:"direct_ingest_lines_per_sec,omitempty"`
	Through        float64       `json:"through_ingest_lines_per_sec,omitempty"`
	Ratio          float64       `json:"ratio,omitempty"`
}

// medianShare is the median of a share every run has, or nil.
func medianShare(runs []RunResult, f func(RunResult) *float64) *float64 {
	xs := make([]float64, 0, len(runs))
	for _, r := range runs {
		p := f(r)
		if p == nil {
			return nil
		}
		xs = append(xs, *p)
	}
	m := median(xs)
	return &m
}

func summarizeRuns(runs []RunResult) Summary {
	var s Summary
	if len(runs) == 0 {
		return s
	}
	pick := func(f func(RunResult) float64) float64 {
		xs := make([]float64, 0, len(runs))
		for _, r := range runs {
			xs = append(xs, f(r))
		}
		return median(xs)
	}
	s.LinesPerSec = pick(func(r RunResult) float64 { return r.Load.LinesPerSec() })
	s.RequestsPerSec = pick(func(r RunResult) float64 { return r.Load.RequestsPerSec() })
	s.P50 = time.Duration(pick(func(r RunResult) float64 { return float64(r.Load.Latency.P50) }))
	s.P99 = time.Duration(pick(func(r RunResult) float64 { return float64(r.Load.Latency.P99) }))
	s.Max = time.Duration(pick(func(r RunResult) float64 { return float64(r.Load.Latency.Max) }))
	s.CPUPerLine = pick(func(r RunResult) float64 { return r.CPUPerLine })
	s.RelayCPU = pick(func(r RunResult) float64 { return r.RelayCPU })
	s.PeakRSS = int64(pick(func(r RunResult) float64 { return float64(r.PeakRSS) }))
	s.CoreIdle = medianShare(runs, func(r RunResult) *float64 { return r.CoreIdle })
	s.CoreIOWait = medianShare(runs, func(r RunResult) *float64 { return r.CoreIOWait })
	s.HarnessCPU = pick(func(r RunResult) float64 { return r.Load.HarnessCPU })
	for _, r := range runs {
		s.Errors = max(s.Errors, r.Load.ErrorCount())
		s.Shortfall = max(s.Shortfall, r.Shortfall)
	}
	if runs[0].Ceiling != nil {
		s.Ceiling = pick(func(r RunResult) float64 { return ceilingOf(r).Load.LinesPerSec() })
	}
	if runs[0].DataDirBytes > 0 || runs[0].Backlog != nil {
		s.BacklogBytes = int64(pick(func(r RunResult) float64 { return float64(r.DataDirBytes) }))
	}
	if len(runs[0].RSS) > 0 {
		s.RSSFirst = int64(pick(func(r RunResult) float64 { return float64(rssAt(r.RSS, 0.2)) }))
		s.RSSLast = int64(pick(func(r RunResult) float64 { return float64(rssAt(r.RSS, 1)) }))
	}
	if runs[0].Recovery != nil {
		s.DrainPerSec = pick(func(r RunResult) float64 { return r.Recovery.LinesPerSec })
		s.DrainFirst = time.Duration(pick(func(r RunResult) float64 { return float64(r.Recovery.FirstAfter) }))
	}
	if runs[0].Influxd != nil {
		s.Direct = pick(func(r RunResult) float64 { return r.Influxd.DirectIngest })
		s.Through = pick(func(r RunResult) float64 { return r.Influxd.ThroughIngest })
		s.Ratio = pick(func(r RunResult) float64 { return r.Influxd.Ratio })
	}
	return s
}

func ceilingOf(r RunResult) Ceiling {
	if r.Ceiling == nil {
		return Ceiling{}
	}
	return *r.Ceiling
}

// rssAt returns the RSS sample at fraction f (0 = first, 1 = last) of pts.
func rssAt(pts []RSSPoint, f float64) int64 {
	if len(pts) == 0 {
		return 0
	}
	return pts[int(f*float64(len(pts)-1))].RSS
}
