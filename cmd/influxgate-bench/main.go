// Command influxgate-bench measures influxgate (and, side by side, other
// relays) with sink backends, a closed-loop load generator and real influxd.
// See docs/performance.md for the scenarios and how to read the table.
//
//	influxgate-bench -scenario all -pin 1 -json bench.json
//	influxgate-bench -scenario large,small,single-line -pin 1 \
//	    -relay influxdb-relay=/path/to/influxdb-relay -relay influx-proxy=/path/to/influx-proxy \
//	    -relay inmate=/path/to/inmate -markdown side-by-side.md
//	influxgate-bench -scenario large -runs 1 -pin 1 -trace /tmp/trace
//	influxgate-bench trace-states /tmp/trace/large-influxgate.trace
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/influxgate/influxgate/internal/bench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "sink" {
		os.Exit(runSink(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "trace-states" {
		os.Exit(runTraceStates(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// runSink is the "sink" subcommand: one healthy sink in its own process,
// used for the ceiling so that it can sit where the relay would.
func runSink(args []string) int {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	addrFile := fs.String("addr-file", "", "file to write the bound address to")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *addrFile == "" {
		fmt.Fprintln(os.Stderr, "sink: -addr-file is required")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench.ServeSink(ctx, *addr, *addrFile); err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		return 1
	}
	return 0
}

// runTraceStates is the "trace-states" subcommand: where influxgate's
// goroutines spent an execution trace taken with -trace, by kind of
// goroutine and state.
func runTraceStates(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: influxgate-bench trace-states FILE.trace...")
		return 2
	}
	for i, path := range args {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(stderr, "trace-states:", err)
			return 1
		}
		ts, err := bench.ReadTraceStates(f, bench.RelayTraceClasses)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "trace-states: %s: %v\n", path, err)
			return 1
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "== %s\n", path)
		bench.WriteTraceStates(stdout, ts)
	}
	return 0
}

// relayFlags collects repeated -relay name=path flags.
type relayFlags []bench.Relay

func (r *relayFlags) String() string { return fmt.Sprint(*r) }
func (r *relayFlags) Set(s string) error {
	rel, err := bench.ParseRelay(s)
	if err != nil {
		return err
	}
	*r = append(*r, rel)
	return nil
}

// envFlags collects repeated KEY=VALUE flags.
type envFlags []string

func (e *envFlags) String() string { return strings.Join(*e, " ") }
func (e *envFlags) Set(s string) error {
	if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
		return fmt.Errorf("%q: want KEY=VALUE", s)
	}
	*e = append(*e, s)
	return nil
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := o.flags(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.list {
		for _, s := range bench.Scenarios {
			long := ""
			if s.Long {
				long = " (only by name or with -long)"
			}
			fmt.Fprintf(stdout, "%-16s %s%s\n", s.Name, s.About, long)
		}
		return 0
	}
	if err := o.pinSelf(); err != nil {
		fmt.Fprintln(stderr, "influxgate-bench:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := o.run(ctx, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "influxgate-bench:", err)
		return 1
	}
	return 0
}

// options are the command-line settings.
type options struct {
	scenarios    string
	long         bool
	runs         int
	duration     string
	warmup       string
	drainTimeout string
	influxgate   string
	noInfluxgate bool
	relays       relayFlags
	relayEnv     envFlags
	pin          int
	influxd      string
	jsonPath     string
	markdownPath string
	workDir      string
	downCapMB    int
	perfDir      string
	traceDir     string
	noCeiling    bool
	keep         bool
	list         bool
	quiet        bool
}

func (o *options) flags(stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("influxgate-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.scenarios, "scenario", "all", "comma-separated scenarios, or all (see -list)")
	fs.BoolVar(&o.long, "long", false, "with -scenario all, also run the long scenarios (backend-down-5m)")
	fs.IntVar(&o.runs, "runs", 3, "runs per scenario; the table shows medians")
	fs.StringVar(&o.duration, "duration", "10s", "measured window per run")
	fs.StringVar(&o.warmup, "warmup", "2s", "warm-up before each window")
	fs.StringVar(&o.drainTimeout, "drain-timeout", "60s", "how long backends may take to receive every acknowledged line after the load")
	fs.StringVar(&o.influxgate, "influxgate", "", "influxgate binary (default: build ./cmd/influxgate of this module)")
	fs.BoolVar(&o.noInfluxgate, "no-influxgate", false, "measure only the -relay binaries")
	fs.Var(&o.relays, "relay", "another relay to measure, as name=path; the names "+strings.Join(bench.Kinds[1:], ", ")+" get that relay's config dialect, any other name is another influxgate build; repeatable")
	fs.Var(&o.relayEnv, "relay-env", "KEY=VALUE added to each relay's environment (e.g. GOGC=50); repeatable")
	fs.IntVar(&o.pin, "pin", -1, "pin the relay (and ceiling sink) to this CPU with GOMAXPROCS=1; the harness takes the other CPUs")
	fs.StringVar(&o.influxd, "influxd", "/usr/bin/influxd", "influxd binary for the influxd scenario")
	fs.StringVar(&o.jsonPath, "json", "", "also write the full results as JSON to this file")
	fs.StringVar(&o.markdownPath, "markdown", "", "also write the side-by-side table as Markdown, with the date and the machine, to this file")
	fs.StringVar(&o.workDir, "work", os.TempDir(), "parent directory of the relay's data directories (use a real disk: sync matters)")
	fs.IntVar(&o.downCapMB, "down-cap-mb", 8192, "influxgate buffer-size-mb for a backend that is down, so long runs cannot fill the disk (0 = none)")
	fs.StringVar(&o.perfDir, "perf", "", "record a perf profile of each relay over the first run's window into this directory")
	fs.StringVar(&o.traceDir, "trace", "", "record a Go execution trace of each influxgate build over the first run's window into this directory (read it with go tool trace)")
	fs.BoolVar(&o.noCeiling, "no-ceiling", false, "skip the sink-direct ceiling")
	fs.BoolVar(&o.keep, "keep", false, "keep each run's directory (relay config, logs, data) under -work")
	fs.BoolVar(&o.list, "list", false, "list the scenarios and exit")
	fs.BoolVar(&o.quiet, "q", false, "no progress messages")
	return fs
}

// pinnedEnv marks the re-executed, pinned harness.
const pinnedEnv = "INFLUXGATE_BENCH_PINNED"

// pinSelf re-executes the tool under taskset on every CPU but the relay's,
// with GOMAXPROCS to match, when -pin is given. Setting the affinity of a
// running Go process would have to catch every runtime thread; exec starts
// clean.
func (o *options) pinSelf() error {
	if o.pin < 0 {
		return nil
	}
	if os.Getenv(pinnedEnv) != "" {
		// GOMAXPROCS was for this process; children get their own.
		os.Unsetenv("GOMAXPROCS")
		return nil
	}
	cpus, err := bench.OnlineCPUs()
	if err != nil {
		return err
	}
	var rest []string
	found := false
	for _, c := range cpus {
		if c == o.pin {
			found = true
		} else {
			rest = append(rest, fmt.Sprint(c))
		}
	}
	if !found || len(rest) == 0 {
		return fmt.Errorf("-pin %d: need that CPU and at least one other among %v", o.pin, cpus)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("-pin needs taskset: %w", err)
	}
	env := append(os.Environ(), pinnedEnv+"=1", fmt.Sprintf("GOMAXPROCS=%d", len(rest)))
	argv := append([]string{"taskset", "-c", strings.Join(rest, ","), exe}, os.Args[1:]...)
	return syscall.Exec(taskset, argv, env)
}
