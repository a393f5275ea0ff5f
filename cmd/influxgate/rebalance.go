package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/rebalance"
	"github.com/influxgate/influxgate/internal/replica"
)

// rebalanceCmd moves every key of a sharded listener that is not on its
// owner under the config to its owner, while influxgate keeps running.
// Exit status: 0 when every key is in place (or after a dry run), 1 when
// keys are left (listed), 2 on error (progress is kept; the same command
// resumes).
func rebalanceCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rebalance", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file with the shards the data must end on")
	listener := fs.String("listener", "", "the sharded [[http]] listener (needed when several are sharded)")
	dryRun := fs.Bool("dry-run", false, "list the keys that would move, with their point counts, and change nothing")
	rateFlag := fs.Float64("rate", 0, "most points written per second to each new replica (0: no limit)")
	dataDir := fs.String("data-dir", "", "overrides the config's data-dir (where the placement and rebalance state live)")
	gate := fs.String("gate", "", "URL of the running influxgate, for its /health (default: the listener's bind-addr)")
	bucket := fs.Duration("bucket", time.Hour, "length of the time buckets compared and copied")
	concurrency := fs.Int("concurrency", 2, "requests in flight to each backend")
	batch := fs.Int("batch", 5000, "lines per write to a new replica")
	chunk := fs.Int("chunk-size", 10000, "rows per chunk of the old replica's answers")
	passes := fs.Int("passes", 3, "comparisons of a key after its copy, copying again what differs in between")
	recheck := fs.Duration("recheck", 250*time.Millisecond, "wait before comparing a differing bucket once more (0: no second look)")
	settle := fs.Duration("settle", 3*time.Second, "wait after a key is moved before its old copy is deleted (at least two of influxgate's one-second polls)")
	rounds := fs.Int("rounds", 5, "listings of the keys before keys that cannot move are reported")
	retry := fs.Duration("retry", 5*time.Second, "wait before trying again a key or a backend that failed")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound on one query")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: influxgate rebalance -config FILE [-listener NAME] [-dry-run] [-rate N]")
		return 2
	}
	if *bucket <= 0 || *concurrency <= 0 || *batch <= 0 || *chunk <= 0 || *passes <= 0 || *rounds <= 0 || *rateFlag < 0 || *settle < 2*time.Second {
		fmt.Fprintln(stderr, "influxgate rebalance: -bucket, -concurrency, -batch, -chunk-size, -passes and -rounds must be positive, -rate at least 0, -settle at least 2s")
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err == nil {
		if *dataDir != "" {
			cfg.DataDir = *dataDir
		}
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "invalid configuration:\n%v\n", err)
		return 2
	}
	tty := false
	if f, ok := stderr.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := rebalance.Run(ctx, rebalance.Options{
		Config: cfg, Listener: *listener, DryRun: *dryRun, Rate: *rateFlag, GateURL: *gate,
		Bucket: *bucket, Concurrency: *concurrency, BatchSize: *batch, ChunkSize: *chunk, Passes: *passes,
		Recheck: *recheck, Settle: *settle, Rounds: *rounds, Retry: *retry,
		Requests: replica.Requests{QueryTimeout: *timeout},
		Out:      stdout, Progress: replica.NewBar(stderr, tty).Named("rebalance", "keys"),
	})
	if err != nil {
		fmt.Fprintln(stderr, "influxgate rebalance:", err)
		if res != nil && res.From != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "what was done is recorded; run the same command again to resume")
		}
		return 2
	}
	if *dryRun || res.Finished {
		return 0
	}
	fmt.Fprintf(stdout, "%d key(s) are not in place yet; the rebalance goes on (influxgate keeps them exact) until they are:\n", len(res.Left))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tFROM\tTO\tWHY")
	for _, l := range res.Left {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Key, l.From, l.To, l.Why)
	}
	tw.Flush()
	return 1
}
