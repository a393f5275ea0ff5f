package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/jetlog"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/replica"
)

// resync copies what one output (-to) misses from another (-from) of the
// same replica set (a listener, or a shard of a sharded one) while
// influxgate keeps running. Exit status: 0 when the target agrees with the
// source at the end, 1 when differences remain, 2 on error (progress is
// kept; the same command resumes).
func resync(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("resync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file")
	listener := fs.String("listener", "", "the [[http]] listener of the outputs (needed when several have outputs with these names)")
	shardName := fs.String("shard", "", "the shard of the outputs, for a sharded listener (output names find it when they are unique in the listener)")
	from := fs.String("from", "", "output to copy from (a replica that has the data)")
	to := fs.String("to", "", "output to copy to (the replica to bring in line)")
	db := fs.String("db", "", "copy only this database (default: all but _internal)")
	start := fs.String("start", "", "copy data from this time: RFC 3339, or a duration ago such as 72h (default: the first point)")
	end := fs.String("end", "", "copy data before this time: RFC 3339 or a duration ago (default: the last point)")
	bucket := fs.Duration("bucket", time.Hour, "length of the time buckets compared and copied")
	concurrency := fs.Int("concurrency", 2, "requests in flight to each backend")
	rate := fs.Float64("rate", 0, "most points written per second (0: no limit)")
	batch := fs.Int("batch", 5000, "lines per write to the target")
	chunk := fs.Int("chunk-size", 10000, "rows per chunk of the source's answers")
	passes := fs.Int("passes", 3, "comparisons of the range after the copy, re-copying what differs in between")
	recheck := fs.Duration("recheck", 2*time.Second, "wait before comparing a differing bucket once more (0: no second look)")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound on one query")
	restart := fs.Bool("restart", false, "ignore saved progress and start over")
	dataDir := fs.String("data-dir", "", "overrides the config's data-dir (where progress and divergence marks live)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *cfgPath == "" || *from == "" || *to == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: influxgate resync -config FILE -from NAME -to NAME [-listener NAME] [-shard NAME] [-db DB] [-start T] [-end T] [-rate N]")
		return 2
	}
	startT, endT, err := replicaRange(*start, *end, time.Now())
	if err == nil && (*bucket <= 0 || *concurrency <= 0 || *batch <= 0 || *chunk <= 0 || *passes <= 0 || *rate < 0) {
		err = errors.New("-bucket, -concurrency, -batch, -chunk-size and -passes must be positive, -rate at least 0")
	}
	if err != nil {
		fmt.Fprintln(stderr, "influxgate resync:", err)
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "invalid configuration:\n%v\n", err)
		return 2
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	set, src, dst, err := replica.Pair(cfg, *listener, *shardName, *from, *to)
	if err != nil {
		fmt.Fprintln(stderr, "influxgate resync:", err)
		return 2
	}
	bs, err := replicaBackends([]config.OutputConfig{src, dst})
	if err != nil {
		fmt.Fprintln(stderr, "influxgate resync:", err)
		return 2
	}
	defer bs[0].Close()
	defer bs[1].Close()
	marks, where, closeMarks, err := divergenceMarks(cfg, set, dst.Name)
	if err != nil {
		fmt.Fprintln(stderr, "influxgate resync: divergence marks:", err)
		return 2
	}
	defer closeMarks()
	if b, ok, err := marks.LoadState(dst.Name, relay.StateDiverged); err == nil && ok {
		fmt.Fprintf(stdout, "%s is marked diverged since %s (%s)\n", dst.Name, string(trimNL(b)), where)
	}
	tty := false
	if f, ok := stderr.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := replica.Resync(ctx, replica.ResyncOptions{
		Source: bs[0], Target: bs[1], Database: *db, Start: startT, End: endT,
		Bucket: *bucket, Concurrency: *concurrency, BatchSize: *batch, ChunkSize: *chunk, Rate: *rate,
		Passes: *passes, Recheck: *recheck, Requests: replica.Requests{QueryTimeout: *timeout}, StatePath: set.StatePath(cfg.DataDir, src.Name, dst.Name),
		Restart: *restart, Progress: replica.NewBar(stderr, tty), Out: stdout, CQBackfill: cfg.CQBackfill,
	})
	if err != nil {
		fmt.Fprintf(stderr, "influxgate resync %s -> %s: %v\n", src.Name, dst.Name, err)
		if res != nil {
			fmt.Fprintln(stderr, "progress is saved; run the same command again to resume")
		}
		return 2
	}
	fmt.Fprintf(stdout, "copied %d buckets (%d points) from %s to %s; %d buckets already agreed; %d copied by an earlier run\n",
		res.Copied, res.Points, src.Name, dst.Name, res.Equal, res.Resumed)
	if len(res.Rejected) > 0 {
		fmt.Fprintf(stdout, "%s rejected the points of %d bucket(s) (listed above); they are not recorded as copied\n", dst.Name, len(res.Rejected))
	}
	msg, _, err := replica.SettleMarker(marks, dst.Name, replica.Coverage{AllDatabases: *db == "", Start: startT, End: endT,
		Started: res.Started, Agreed: res.Agreed()})
	if err != nil {
		fmt.Fprintln(stderr, "influxgate resync:", err)
		return 2
	}
	if msg != "" {
		fmt.Fprintf(stdout, "%s: %s\n", dst.Name, msg)
	}
	if !res.Agreed() {
		fmt.Fprintf(stdout, "%d differences remain (writes racing with the resync?); check with influxgate verify and run resync again:\n", len(res.Remaining))
		printDifferences(stdout, res.Remaining)
		return 1
	}
	return 0
}

// divergenceMarks opens where the daemons keep output's divergence mark:
// a file in the replica set's directory with the local log, the state
// bucket beside the cursors with a log in NATS. where says which, for
// people.
func divergenceMarks(cfg *config.Config, set replica.ReplicaSet, output string) (marks replica.Marks, where string, closeFn func(), err error) {
	if !cfg.LogStore.NATS() {
		return relay.FileState{Dir: set.Dir}, set.MarkerPath(output), func() {}, nil
	}
	st, closeFn, err := jetlog.OpenState(cfg.LogStore, set.RelayName(), slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, "", nil, err
	}
	return st, fmt.Sprintf("NATS bucket %s_state", cfg.LogStore.StreamPrefix), closeFn, nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func printDifferences(w io.Writer, diffs []replica.Difference) {
	(&replica.Report{Differences: diffs}).WriteTable(w)
}
