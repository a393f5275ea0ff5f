package bench

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

// A Go execution trace (-trace) says, for every goroutine, when it ran,
// when it could have run but waited for the P, and what it blocked on.
// go tool trace shows one goroutine or one stack at a time; the question
// for a relay on one core is where a request's time goes across the
// goroutines that serve it (handler, log writer, delivery worker, backend
// connection), so ReadTraceStates sums each state's time per kind of
// goroutine. It reads the trace with golang.org/x/exp/trace, the Go
// team's parser of the runtime's format.

// TraceClass names a kind of goroutine: one whose stack, seen at any of
// its state changes, holds a frame whose function name contains Func.
type TraceClass struct {
	Name string
	Func string
}

// RelayTraceClasses are influxgate's goroutines, in the order they are
// tried: the first class whose Func is on a goroutine's stack is its class.
var RelayTraceClasses = []TraceClass{
	{"profiler (the trace request itself)", "net/http/pprof."},
	{"request handler", "net/http.(*conn).serve"},
	{"net/http background read", "net/http.(*connReader).backgroundRead"},
	{"log writer", "internal/wal.(*Log).run"},
	{"delivery worker", "internal/relay.(*worker).run"},
	{"backend answer reader", "net/http.(*persistConn).readLoop"},
	{"backend request writer", "net/http.(*persistConn).writeLoop"},
	{"GC", "runtime.gcBgMarkWorker"},
}

// TraceStates is where the goroutines of each class spent the trace.
type TraceStates struct {
	Window time.Duration
	// Idle is the time no goroutine was running: with influxgate on one
	// P, its core was idle then (or busy only in system calls).
	Idle time.Duration
	// IdleReady is the part of Idle during which a goroutine was ready to
	// run: the P was held, typically by a goroutine in a system call that
	// the runtime had not yet taken it from.
	IdleReady time.Duration
	Classes   []ClassStates // in the order of the classes given, then "other"
}

// ClassStates sums one class's goroutines.
type ClassStates struct {
	Name       string
	Goroutines int
	// States maps a state to its total time over the class's goroutines:
	// "running"; "runnable after <cause>" (ready, waiting for the P;
	// cause: "a system call", "a yield or preemption", "a wake-up");
	// "waiting in <frame>" and "system call in <frame>", where frame is
	// the innermost influxgate, net/http or syscall function.
	States map[string]time.Duration
	// IdleStates is States counted only while no goroutine was running:
	// what the class was waiting for when the core had nothing to do.
	IdleStates map[string]time.Duration
}

// Sorted returns the class's states, longest first.
func (c ClassStates) Sorted() []string { return sortedStates(c.States) }

func sortedStates(states map[string]time.Duration) []string {
	keys := make([]string, 0, len(states))
	for k := range states {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(states[b], states[a]), strings.Compare(a, b))
	})
	return keys
}

type goState struct {
	class      int // index into classes, -1 until a stack shows it
	since      trace.Time
	state      string
	known      bool // since and state are set
	states     map[string]time.Duration
	idleStates map[string]time.Duration
}

// ReadTraceStates reads an execution trace and sums each class's states.
func ReadTraceStates(r io.Reader, classes []TraceClass) (TraceStates, error) {
	tr, err := trace.NewReader(r)
	if err != nil {
		return TraceStates{}, err
	}
	other := len(classes)
	sums := make([]ClassStates, len(classes)+1)
	for i, c := range classes {
		sums[i].Name = c.Name
	}
	sums[other].Name = "other"
	for i := range sums {
		sums[i].States = make(map[string]time.Duration)
		sums[i].IdleStates = make(map[string]time.Duration)
	}
	gs := make(map[trace.GoID]*goState)
	live := make(map[trace.GoID]*goState) // goroutines in a state
	running, ready := 0, 0
	var first, last trace.Time
	var idle, idleReady time.Duration
	for {
		ev, err := tr.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return TraceStates{}, err
		}
		if first == 0 {
			first = ev.Time()
		}
		if running == 0 && last != 0 && ev.Time() > last {
			// Nothing ran since the previous event.
			d := time.Duration(ev.Time() - last)
			idle += d
			if ready > 0 {
				idleReady += d
			}
			for _, g := range live {
				g.idleStates[g.state] += d
			}
		}
		last = ev.Time()
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		from, to := st.Goroutine()
		stack := st.Stack
		if stack == trace.NoStack && from == trace.GoRunning {
			stack = ev.Stack() // the goroutine's own event
		}
		id := st.Resource.Goroutine()
		g := gs[id]
		if g == nil {
			g = &goState{class: -1, states: make(map[string]time.Duration),
				idleStates: make(map[string]time.Duration)}
			gs[id] = g
		}
		if g.class < 0 || g.class == other {
			// A goroutine belongs to a class as soon as any of its stacks
			// shows the class's function; until then it is "other".
			if c := classify(stack, classes); c >= 0 {
				g.class = c
			}
		}
		if g.known && g.state != "" {
			g.states[g.state] += time.Duration(ev.Time() - g.since)
		}
		g.since, g.known = ev.Time(), true
		g.state = stateName(from, to, stack)
		if g.state == "" {
			delete(live, id)
		} else {
			live[id] = g
		}
		if from == trace.GoRunning {
			running--
		}
		if to == trace.GoRunning {
			running++
		}
		if from == trace.GoRunnable {
			ready--
		}
		if to == trace.GoRunnable {
			ready++
		}
		// Goroutines already running or ready when the trace began.
		running, ready = max(running, 0), max(ready, 0)
	}
	out := TraceStates{Window: time.Duration(last - first), Idle: idle, IdleReady: idleReady}
	for _, g := range gs {
		if g.known && g.state != "" { // the state it was in when the trace ended
			g.states[g.state] += time.Duration(last - g.since)
		}
		if g.class < 0 {
			g.class = other
		}
		c := &sums[g.class]
		c.Goroutines++
		for k, d := range g.states {
			c.States[k] += d
		}
		for k, d := range g.idleStates {
			c.IdleStates[k] += d
		}
	}
	out.Classes = sums
	return out, nil
}

// classify returns the index of the first class on stack, len(classes)
// when none is, or -1 when the stack has no frames.
func classify(stack trace.Stack, classes []TraceClass) int {
	var funcs []string
	for f := range stack.Frames() {
		funcs = append(funcs, f.Func)
	}
	if len(funcs) == 0 {
		return -1
	}
	for i, c := range classes {
		for _, fn := range funcs {
			if strings.Contains(fn, c.Func) {
				return i
			}
		}
	}
	return len(classes)
}

// stateName names the state a goroutine enters; "" for none (it ended).
func stateName(from, to trace.GoState, stack trace.Stack) string {
	switch to {
	case trace.GoNotExist, trace.GoUndetermined:
		return ""
	case trace.GoRunning:
		return "running"
	case trace.GoRunnable:
		switch from {
		case trace.GoSyscall:
			return "runnable after a system call"
		case trace.GoRunning:
			return "runnable after a yield or preemption"
		}
		return "runnable after a wake-up"
	case trace.GoWaiting:
		return "waiting in " + frameOf(stack)
	case trace.GoSyscall:
		return "system call in " + frameOf(stack)
	}
	return to.String()
}

// frameOf is the innermost frame of stack that says what the goroutine
// waits for: influxgate's own, net/http's or a system call's.
func frameOf(stack trace.Stack) string {
	for f := range stack.Frames() {
		fn := f.Func
		if strings.Contains(fn, "influxgate/internal/") || strings.HasPrefix(fn, "net/http.") ||
			strings.HasPrefix(fn, "syscall.") {
			if i := strings.LastIndex(fn, "/"); i >= 0 {
				fn = fn[i+1:]
			}
			return fn
		}
	}
	return "the runtime"
}

// WriteTraceStates prints each class's states, longest first, with their
// share of the class's time (its goroutines' lifetimes in the window).
func WriteTraceStates(w io.Writer, ts TraceStates) {
	fmt.Fprintf(w, "window %v\n", ts.Window.Round(time.Millisecond))
	writeStates(w, ts.Classes, func(c ClassStates) map[string]time.Duration { return c.States })
	if ts.Window <= 0 {
		return
	}
	fmt.Fprintf(w, "\nwhile no goroutine ran: %v, %.1f%% of the window (%v of it with a goroutine ready to run); what each class waited for then\n",
		ts.Idle.Round(time.Millisecond), 100*float64(ts.Idle)/float64(ts.Window), ts.IdleReady.Round(time.Millisecond))
	writeStates(w, ts.Classes, func(c ClassStates) map[string]time.Duration { return c.IdleStates })
}

func writeStates(w io.Writer, classes []ClassStates, of func(ClassStates) map[string]time.Duration) {
	for _, c := range classes {
		states := of(c)
		if c.Goroutines == 0 {
			continue
		}
		var total time.Duration
		for _, d := range states {
			total += d
		}
		if total == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%d goroutines)\n", c.Name, c.Goroutines)
		for _, k := range sortedStates(states) {
			d := states[k]
			share := float64(d) / float64(total)
			if share < 0.005 {
				continue
			}
			fmt.Fprintf(w, "  %-60s %10.1f ms  %5.1f%%\n", k, float64(d)/1e6, 100*share)
		}
	}
}
