package bench

import (
	"bytes"
	"runtime/trace"
	"strings"
	"sync"
	"testing"
	"time"
)

//go:noinline
func traceTestWaiter(c chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	<-c
}

//go:noinline
func traceTestSpinner(d time.Duration, wg *sync.WaitGroup) {
	defer wg.Done()
	x := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		x++
	}
	_ = x
}

func TestReadTraceStates(t *testing.T) {
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skipf("cannot trace: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	c := make(chan struct{})
	go traceTestWaiter(c, &wg)
	go traceTestSpinner(60*time.Millisecond, &wg)
	time.Sleep(150 * time.Millisecond)
	close(c)
	wg.Wait()
	trace.Stop()

	ts, err := ReadTraceStates(&buf, []TraceClass{
		{"waiter", "bench.traceTestWaiter"}, {"spinner", "bench.traceTestSpinner"}})
	if err != nil {
		t.Fatal(err)
	}
	if ts.Window < 150*time.Millisecond || len(ts.Classes) != 3 || ts.Classes[2].Name != "other" {
		t.Fatalf("window %v, classes %+v", ts.Window, ts.Classes)
	}
	waiter, spinner := ts.Classes[0], ts.Classes[1]
	if waiter.Goroutines != 1 || spinner.Goroutines != 1 {
		t.Fatalf("goroutines: waiter %d, spinner %d", waiter.Goroutines, spinner.Goroutines)
	}
	if d := waiter.States["waiting in bench.traceTestWaiter"]; d < 120*time.Millisecond {
		t.Errorf("the waiter waited %v in its own frame; states %v", d, waiter.States)
	}
	if d := spinner.States["running"]; d < 40*time.Millisecond {
		t.Errorf("the spinner ran %v; states %v", d, spinner.States)
	}
	if sorted := spinner.Sorted(); len(sorted) == 0 || sorted[0] != "running" {
		t.Errorf("the spinner's longest state is not running: %v", sorted)
	}
	// After the spinner's 60 ms, nothing runs until the sleep ends at
	// 150 ms: the waiter spends that idle time waiting.
	if ts.Idle < 60*time.Millisecond || ts.Idle > ts.Window {
		t.Errorf("idle %v of a %v window, want most of the 90 ms after the spinner", ts.Idle, ts.Window)
	}
	if d := waiter.IdleStates["waiting in bench.traceTestWaiter"]; d < 60*time.Millisecond || d > ts.Idle {
		t.Errorf("the waiter waited %v of the idle %v; idle states %v", d, ts.Idle, waiter.IdleStates)
	}
	if d := spinner.IdleStates["running"]; d != 0 {
		t.Errorf("the spinner ran %v while no goroutine ran", d)
	}
	var out strings.Builder
	WriteTraceStates(&out, ts)
	if !strings.Contains(out.String(), "waiter (1 goroutines)") || !strings.Contains(out.String(), "waiting in bench.traceTestWaiter") ||
		!strings.Contains(out.String(), "while no goroutine ran") {
		t.Errorf("report:\n%s", out.String())
	}
}
