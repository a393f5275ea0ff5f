package bench

import (
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	var s []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	got := summarize(s)
	want := Latency{P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond,
		Max: 100 * time.Millisecond, Mean: 50500 * time.Microsecond}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if (summarize(nil) != Latency{}) {
		t.Errorf("summarize(nil) not zero")
	}
}

func TestPercentileNearestRank(t *testing.T) {
	s := []time.Duration{10, 20, 30}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.01, 10}, {0.33, 10}, {0.34, 20}, {0.5, 20}, {0.99, 30}, {1, 30}} {
		if got := percentile(s, tc.q); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestMedian(t *testing.T) {
	xs := []float64{5, 1, 3}
	if got := median(xs); got != 3 {
		t.Errorf("median odd = %v", got)
	}
	if xs[0] != 5 {
		t.Errorf("median changed its input")
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median even = %v", got)
	}
	if got := median(nil); got != 0 {
		t.Errorf("median(nil) = %v", got)
	}
}

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses must not shift the fields.
	line := []byte("1234 (a) b (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 100 0 0\n")
	got, err := parseStatCPU(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3250 * time.Millisecond; got != want {
		t.Errorf("cpu = %v, want %v", got, want)
	}
	if _, err := parseStatCPU([]byte("1234 (x) S 1 2")); err == nil {
		t.Errorf("short line accepted")
	}
}

func TestCPUTimeOfSelf(t *testing.T) {
	// Burn some CPU so the 10 ms resolution registers it.
	deadline := time.Now().Add(30 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	got, err := CPUTime(osGetpid())
	if err != nil {
		t.Fatal(err)
	}
	if got <= 0 {
		t.Errorf("CPUTime of a busy process = %v", got)
	}
}

func TestParseStatusMemory(t *testing.T) {
	status := []byte("Name:\tx\nVmPeak:\t 9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nThreads:\t3\n")
	m, err := parseStatusMemory(status)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS != 1024<<10 || m.HWM != 2048<<10 {
		t.Errorf("memory = %+v", m)
	}
	if _, err := parseStatusMemory([]byte("Name:\tx\nVmRSS:\t1 kB\n")); err == nil {
		t.Errorf("missing VmHWM accepted")
	}
}

func TestParseCPUList(t *testing.T) {
	got, err := parseCPUList("0-2,5,7-8")
	if err != nil {
		t.Fatal(err)
	}
	if CPUList(got) != "0,1,2,5,7,8" {
		t.Errorf("cpus = %v", got)
	}
	for _, bad := range []string{"", "a", "3-1", "1-x"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("parseCPUList(%q) accepted", bad)
		}
	}
}

func TestParseCoreTimes(t *testing.T) {
	stat := []byte("cpu  900 0 800 7000 300 0 60 0 0 0\n" +
		"cpu10 9 9 9 9 9 9 9 9 0 0\n" +
		"cpu1 400 1 350 3000 150 2 30 5 0 0\n" +
		"intr 1 2 3\n")
	got, err := parseCoreTimes(stat, 1)
	if err != nil {
		t.Fatal(err)
	}
	// cpu1, not the summary line or cpu10 (a prefix match would take them).
	if want := (CoreTimes{400, 1, 350, 3000, 150, 2, 30, 5}); got != want {
		t.Errorf("cpu1 = %+v, want %+v", got, want)
	}
	if _, err := parseCoreTimes(stat, 2); err == nil || !strings.Contains(err.Error(), "cpu2") {
		t.Errorf("missing cpu2: err = %v", err)
	}
	if _, err := parseCoreTimes([]byte("cpu0 1 2 3\n"), 0); err == nil {
		t.Errorf("short line accepted")
	}
	if _, err := parseCoreTimes([]byte("cpu0 1 2 3 x 5 6 7 8\n"), 0); err == nil {
		t.Errorf("non-numeric field accepted")
	}
}

func TestCoreShares(t *testing.T) {
	a := CoreTimes{User: 100, System: 100, Idle: 100, IOWait: 100}
	// 200 ticks later: 120 busy, 20 idle, 60 iowait.
	b := CoreTimes{User: 180, System: 140, Idle: 120, IOWait: 160}
	idle, iowait, ok := coreShares(a, b)
	if !ok || idle != 0.1 || iowait != 0.3 {
		t.Errorf("coreShares = %v, %v, %v; want 0.1, 0.3, true", idle, iowait, ok)
	}
	if _, _, ok := coreShares(a, a); ok {
		t.Errorf("no tick passed, but shares reported")
	}
}

func TestReadCoreTimesOfThisMachine(t *testing.T) {
	c, err := ReadCoreTimes(0)
	if err != nil {
		t.Fatal(err)
	}
	if c.total() <= 0 {
		t.Errorf("cpu0 has accounted no time: %+v", c)
	}
}

func TestCoreIdleInSummaryAndTable(t *testing.T) {
	share := func(v float64) *float64 { return &v }
	runs := []RunResult{
		{CoreIdle: share(0.02), CoreIOWait: share(0.20)},
		{CoreIdle: share(0.04), CoreIOWait: share(0.10)},
		{CoreIdle: share(0.30), CoreIOWait: share(0.15)},
	}
	s := summarizeRuns(runs)
	if s.CoreIdle == nil || *s.CoreIdle != 0.04 || s.CoreIOWait == nil || *s.CoreIOWait != 0.15 {
		t.Fatalf("medians: idle %v, iowait %v", s.CoreIdle, s.CoreIOWait)
	}
	if got := coreIdle(s); got != "4%/15%" {
		t.Errorf("column = %q", got)
	}
	// A run without the figures (relay not pinned) leaves the column empty
	// rather than a median of the others.
	runs[1].CoreIdle = nil
	if s := summarizeRuns(runs); s.CoreIdle != nil || coreIdle(s) != "-" {
		t.Errorf("partial runs: idle %v, column %q", s.CoreIdle, coreIdle(s))
	}
}
