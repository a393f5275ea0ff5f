package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/influxgate/influxgate/internal/server"
)

// drain delivers what a node's data directory holds, without serving: for
// a node that will not come back, run on another machine with a copy of
// its data directory and its config (docs/deployment.md). It exits 0 once
// every backend's cursor has reached the end of its log, and 1 with what
// is left when -timeout passes first (or on SIGINT/SIGTERM); the cursors
// are saved either way, so a second drain resumes where this one stopped.
func drain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drain", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file of the node whose data directory is drained (native TOML, influxdb-relay TOML or Inmate YAML)")
	dataDir := fs.String("data-dir", "", "the data directory to drain (a copy of the node's); overrides the config's data-dir")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up, exit 1 and list what is left, when the drain takes longer than this")
	progress := fs.Duration("progress", 5*time.Second, "print what is left this often")
	logLevel := fs.String("log-level", "", "overrides [log] level: debug, info, warn, error")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "influxgate drain: unexpected argument %q\n", fs.Arg(0))
		return 2
	case *cfgPath == "":
		fmt.Fprintln(stderr, "influxgate drain: -config FILE is required (influxgate drain -h lists the flags)")
		return 2
	case *timeout <= 0 || *progress <= 0:
		fmt.Fprintln(stderr, "influxgate drain: -timeout and -progress must be greater than 0")
		return 2
	}
	cfg, err := loadConfig(&runFlags{config: *cfgPath, dataDir: *dataDir, logLevel: *logLevel})
	if err != nil {
		fmt.Fprintf(stderr, "influxgate drain: invalid configuration:\n%v\n", err)
		return 1
	}
	logger := newLogger(cfg.Log, new(slog.LevelVar), stderr)
	deadline, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(deadline, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stdout, "drain: delivering what %s holds (timeout %s)\n", cfg.DataDir, *timeout)
	res, err := server.Drain(ctx, cfg, server.DrainOptions{
		Logger:           logger,
		ProgressInterval: *progress,
		Progress: func(left []server.Left, elapsed time.Duration) {
			fmt.Fprintf(stdout, "drain: %s: %s\n", elapsed.Round(time.Second), describeLeft(left))
		},
	})
	if err != nil {
		fmt.Fprintf(stderr, "influxgate drain: %v\n", err)
		return 1
	}
	if len(res.Left) > 0 {
		why := "interrupted"
		if deadline.Err() != nil {
			why = "timed out"
		}
		fmt.Fprintf(stdout, "drain: %s after %s with records left (cursors saved; run drain again to resume): %s\n",
			why, res.Elapsed.Round(time.Millisecond), describeLeft(res.Left))
		return 1
	}
	fmt.Fprintf(stdout, "drain: done in %s: every backend of %d log(s) has received the whole log\n",
		res.Elapsed.Round(time.Millisecond), res.Relays)
	if len(res.DeadLetters) > 0 {
		keys := make([]string, 0, len(res.DeadLetters))
		for k := range res.DeadLetters {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(stdout, "drain: %s has %d records in its dead-letter store (influxgate dead-letter lists and replays them)\n",
				k, res.DeadLetters[k])
		}
	}
	return 0
}

// describeLeft is one line: the total and each backend still behind.
func describeLeft(left []server.Left) string {
	var total uint64
	var bytes int64
	parts := make([]string, 0, len(left))
	for _, l := range left {
		total += l.Records
		bytes += l.Bytes
		p := fmt.Sprintf("%s %s: %d records (%s)", l.Relay, l.Backend, l.Records, l.State)
		if l.Backfill != "" {
			p += ", continuous-query backfill " + l.Backfill
		}
		if l.LastError != "" && l.State == "down" {
			p += ": " + l.LastError
		}
		parts = append(parts, p)
	}
	return fmt.Sprintf("%d records (%d bytes) left; %s", total, bytes, strings.Join(parts, "; "))
}
