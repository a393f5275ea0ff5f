package main

import (
	"context"
	"flag"
	"fmt"
	"io"

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
	listener := fs.String("listener", "", "[[http]] listener name (default: the only one)")
	dataDir := fs.String("data-dir", "", "overrides the config's data-dir")
	if err := fs.Parse(args); err != nil {
		return 2
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
	hc := -1
	for i, h := range cfg.HTTP {
		if *listener == "" || h.Name == *listener {
			for _, o := range h.Outputs {
				if o.Name == *output {
					hc = i
				}
			}
		}
	}
	if hc < 0 {
		fmt.Fprintf(stderr, "no output %q in the configured [[http]] listeners\n", *output)
		return 1
	}
	unlock, err := wal.LockDir(cfg.DataDir)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer unlock()
	h := cfg.HTTP[hc]
	r, err := relay.New(relay.Options{Name: h.Name, Dir: cfg.ListenerDir(h.Name), Outputs: h.Outputs})
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
