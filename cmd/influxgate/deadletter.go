package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/jetlog"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/wal"
)

// deadLetter lists, replays or purges an output's dead-letter store. It
// works on the data directory directly, so influxgate must be stopped (the
// data-dir lock says so otherwise); replayed records are delivered when
// influxgate starts again, to that output only, in order after the log.
func deadLetter(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dead-letter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file")
	output := fs.String("output", "", "output (backend) name")
	listener := fs.String("listener", "", "[[http]] or [[udp]] section that owns the output (needed only when two have an output of that name)")
	dataDir := fs.String("data-dir", "", "overrides the config's data-dir")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	action := fs.Arg(0)
	if *cfgPath == "" || *output == "" || (action != "list" && action != "replay" && action != "purge") {
		fmt.Fprintln(stderr, "usage: influxgate dead-letter -config FILE -output NAME [-listener NAME] list|replay|purge")
		return 2
	}
	cfg, err := loadConfig(&runFlags{config: *cfgPath, dataDir: *dataDir})
	if err != nil {
		fmt.Fprintf(stderr, "invalid configuration:\n%v\n", err)
		return 1
	}
	name, dir, outputs, err := deadLetterRelay(cfg, *listener, *output)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	unlock, err := wal.LockDir(cfg.DataDir)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer unlock()
	// The log of the config's [log-store]: with NATS, replayed records go
	// to the stream the running nodes deliver from.
	r, err := relay.New(relay.Options{Name: name, Dir: dir, Outputs: outputs,
		OpenLog: jetlog.Engine(cfg, jetlog.NodeName())})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer r.Close(context.Background())
	switch action {
	case "list":
		for _, b := range r.Stats().Backends {
			if b.Name == *output {
				fmt.Fprintf(stdout, "%s: %d records in the dead-letter store\n", b.Name, b.DeadLetters)
			}
		}
	case "replay":
		n, err := r.ReplayDeadLetters(*output)
		if err != nil {
			fmt.Fprintln(stderr, "replay:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%d records queued for %s; they are delivered when influxgate runs\n", n, *output)
	case "purge":
		n, err := r.PurgeDeadLetters(*output)
		if err != nil {
			fmt.Fprintln(stderr, "purge:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%d records deleted from the dead-letter store of %s\n", n, *output)
	}
	return 0
}

// deadLetterRelay finds the relay that owns output: an [[http]] listener
// or one of its shards, or a [[udp]] section whose http(s) outputs go
// through a log of its own. It returns the relay's name, directory and
// outputs, as the daemon opens it.
func deadLetterRelay(cfg *config.Config, listener, output string) (string, string, []config.OutputConfig, error) {
	var found []string
	var name, dir string
	var outputs []config.OutputConfig
	considerIn := func(l, n, d string, outs []config.OutputConfig) {
		if listener != "" && l != listener {
			return
		}
		for _, o := range outs {
			if o.Name == output {
				found = append(found, n)
				name, dir, outputs = n, d, outs
			}
		}
	}
	consider := func(n string, outs []config.OutputConfig) { considerIn(n, n, cfg.ListenerDir(n), outs) }
	for _, h := range cfg.HTTP {
		if !h.Sharded() {
			consider(h.Name, h.Outputs)
		}
		for _, sc := range h.Shards {
			considerIn(h.Name, h.Name+"/"+sc.Name, cfg.ShardDir(h.Name, sc.Name), sc.Outputs)
		}
	}
	for _, u := range cfg.UDP {
		var httpOuts []config.OutputConfig
		for _, o := range u.Outputs {
			if o.IsHTTP() {
				httpOuts = append(httpOuts, o)
			}
		}
		consider(u.Name, httpOuts)
	}
	switch len(found) {
	case 0:
		return "", "", nil, fmt.Errorf("no output %q with a log in the configured [[http]] and [[udp]] sections", output)
	case 1:
		return name, dir, outputs, nil
	}
	return "", "", nil, fmt.Errorf("output %q exists in %s; choose one with -listener", output, strings.Join(found, ", "))
}
