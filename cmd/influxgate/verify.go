package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/replica"
)

// verify compares the outputs of each replica set — an unsharded [[http]]
// listener, or one shard of a sharded one — through their query APIs.
// Exit status: 0 when the replicas agree, 1 when they differ, 2 when they
// could not be compared.
func verify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file")
	listener := fs.String("listener", "", "compare only this [[http]] listener's outputs (default: every listener and shard with two or more)")
	shardName := fs.String("shard", "", "compare only this shard's outputs (default: every shard of a sharded listener)")
	db := fs.String("db", "", "compare only this database (default: all but _internal)")
	start := fs.String("start", "", "compare data from this time: RFC 3339, or a duration ago such as 72h (default: the first point)")
	end := fs.String("end", "", "compare data before this time: RFC 3339 or a duration ago (default: the last point)")
	bucket := fs.Duration("bucket", time.Hour, "length of the time buckets compared")
	concurrency := fs.Int("concurrency", 2, "queries in flight to each backend")
	recheck := fs.Duration("recheck", 2*time.Second, "wait before comparing differing buckets once more (0: no second look)")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound on one query")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: influxgate verify -config FILE [-listener NAME] [-shard NAME] [-db DB] [-start T] [-end T] [-bucket 1h] [-concurrency 2]")
		return 2
	}
	from, to, err := replicaRange(*start, *end, time.Now())
	if err == nil && (*bucket <= 0 || *concurrency <= 0) {
		err = errors.New("-bucket and -concurrency must be positive")
	}
	if err != nil {
		fmt.Fprintln(stderr, "influxgate verify:", err)
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "invalid configuration:\n%v\n", err)
		return 2
	}
	sets, err := replica.ReplicaSets(cfg, *listener, *shardName)
	if err != nil {
		fmt.Fprintln(stderr, "influxgate verify:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := 0
	for _, h := range sets {
		bs, err := replicaBackends(h.Outputs)
		if err != nil {
			fmt.Fprintf(stderr, "influxgate verify: %s: %v\n", h, err)
			return 2
		}
		rep, err := replica.Verify(ctx, replica.VerifyOptions{Backends: bs, Database: *db, Start: from, End: to,
			Bucket: *bucket, Concurrency: *concurrency, Recheck: *recheck, Requests: replica.Requests{QueryTimeout: *timeout}})
		for _, b := range bs {
			b.Close()
		}
		var names []string
		for _, o := range h.Outputs {
			names = append(names, o.Name)
		}
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "influxgate verify: %s: %v\n", h, err)
			code = 2
		case rep.Agree():
			fmt.Fprintf(stdout, "%s (%s): the replicas agree (%d measurement(s), %d bucket(s) of %s compared)\n",
				h, strings.Join(names, ", "), rep.Measurements, rep.Buckets, *bucket)
		default:
			fmt.Fprintf(stdout, "%s (%s): %d difference(s) (%d measurement(s), %d bucket(s) of %s compared)\n",
				h, strings.Join(names, ", "), len(rep.Differences), rep.Measurements, rep.Buckets, *bucket)
			rep.WriteTable(stdout)
			code = max(code, 1)
		}
	}
	return code
}

// replicaBackends prepares clients for the outputs of a listener.
func replicaBackends(outputs []config.OutputConfig) ([]*backend.Client, error) {
	var bs []*backend.Client
	for _, o := range outputs {
		b, err := backend.New(o)
		if err != nil {
			for _, b := range bs {
				b.Close()
			}
			return nil, err
		}
		bs = append(bs, b)
	}
	return bs, nil
}

// replicaRange parses -start and -end: RFC 3339 times, or durations before
// now ("72h"); empty leaves that side open.
func replicaRange(start, end string, now time.Time) (from, to time.Time, err error) {
	parse := func(flag, s string) (time.Time, error) {
		if s == "" {
			return time.Time{}, nil
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, nil
		}
		if d, err := time.ParseDuration(s); err == nil && d >= 0 {
			return now.Add(-d), nil
		}
		return time.Time{}, fmt.Errorf("-%s %q: want an RFC 3339 time (2024-05-01T00:00:00Z) or a duration ago (72h)", flag, s)
	}
	if from, err = parse("start", start); err == nil {
		to, err = parse("end", end)
	}
	if err == nil && !from.IsZero() && !to.IsZero() && !from.Before(to) {
		err = fmt.Errorf("-start %s is not before -end %s", start, end)
	}
	return from, to, err
}
