// Command influxgate is a high-availability write relay and query gateway
// for InfluxDB. See README.md.
//
//	influxgate -config FILE              run (as influxdb-relay is started)
//	influxgate run -config FILE          the same
//	influxgate check-config -config FILE validate; exit 1 listing every problem
//	influxgate version
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
	"runtime"
	"syscall"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runServer(args, stderr)
	case "check-config":
		return checkConfig(args, stdout, stderr)
	case "dead-letter":
		return deadLetter(args, stdout, stderr)
	case "verify":
		return verify(args, stdout, stderr)
	case "resync":
		return resync(args, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "influxgate %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "influxgate: unknown command %q\n\n", cmd)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  influxgate [run] -config FILE [-data-dir DIR] [-log-level LEVEL] [-log-format text|json]
  influxgate check-config -config FILE
  influxgate dead-letter -config FILE -output NAME [-listener NAME] list|replay|purge
  influxgate verify -config FILE [-listener NAME] [-db DB] [-start T] [-end T] [-bucket 1h]
  influxgate resync -config FILE -from NAME -to NAME [-listener NAME] [-db DB] [-start T] [-end T] [-rate N]
  influxgate version

FILE may be a native influxgate TOML file, an influxdb-relay TOML file or an
Inmate config.yaml.
`)
}

type runFlags struct {
	config, dataDir, logLevel, logFormat string
}

func parseRunFlags(name string, args []string, stderr io.Writer) (*flag.FlagSet, *runFlags, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &runFlags{}
	fs.StringVar(&f.config, "config", "", "config file (native TOML, influxdb-relay TOML or Inmate YAML)")
	fs.StringVar(&f.dataDir, "data-dir", "", "overrides the config's data-dir")
	fs.StringVar(&f.logLevel, "log-level", "", "overrides [log] level: debug, info, warn, error")
	fs.StringVar(&f.logFormat, "log-format", "", "overrides [log] format: text or json")
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if f.config == "" {
		return nil, nil, errors.New("-config FILE is required")
	}
	return fs, f, nil
}

// loadConfig loads the file and applies flag overrides.
func loadConfig(f *runFlags) (*config.Config, error) {
	cfg, err := config.Load(f.config)
	if err != nil {
		return nil, err
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	if f.logLevel != "" {
		cfg.Log.Level = f.logLevel
	}
	if f.logFormat != "" {
		cfg.Log.Format = f.logFormat
	}
	return cfg, cfg.Validate()
}

func runServer(args []string, stderr io.Writer) int {
	_, f, err := parseRunFlags("run", args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "influxgate:", err)
		return 2
	}
	cfg, err := loadConfig(f)
	if err != nil {
		fmt.Fprintf(stderr, "influxgate: invalid configuration:\n%v\n", err)
		return 1
	}
	level := new(slog.LevelVar)
	logger := newLogger(cfg.Log, level, stderr)
	logger.Info("starting influxgate", "version", version, "config", cfg.Source.Path,
		"format", string(cfg.Source.Format), "data_dir", cfg.DataDir, "sync", cfg.Sync)
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}
	srv, err := server.New(cfg, server.Options{Version: version, Logger: logger})
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go reloadOnHUP(ctx, f, srv, level, logger)
	if err := srv.Run(ctx); err != nil {
		logger.Error("stopped with an error", "err", err)
		return 1
	}
	return 0
}

func checkConfig(args []string, stdout, stderr io.Writer) int {
	_, f, err := parseRunFlags("check-config", args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "influxgate:", err)
		return 2
	}
	cfg, err := loadConfig(f)
	if err != nil {
		fmt.Fprintf(stderr, "%s: invalid configuration:\n%v\n", f.config, err)
		return 1
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stdout, "warning:", w)
	}
	outputs := 0
	for _, h := range cfg.HTTP {
		outputs += len(h.AllOutputs())
	}
	fmt.Fprintf(stdout, "%s: configuration OK (%s format): %d HTTP listener(s) with %d output(s), %d UDP listener(s)\n",
		f.config, cfg.Source.Format, len(cfg.HTTP), outputs, len(cfg.UDP))
	return 0
}

// reloadOnHUP re-reads the config file on SIGHUP and applies it; an
// invalid file is refused with a log line and the running config stays.
func reloadOnHUP(ctx context.Context, f *runFlags, srv *server.Server, level *slog.LevelVar, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := loadConfig(f)
		if err != nil {
			logger.Error("reload refused: invalid configuration; the running one stays in force",
				"config", f.config, "err", err.Error())
			continue
		}
		warnings, err := srv.Reload(cfg)
		for _, w := range warnings {
			logger.Warn("reload: " + w)
		}
		if err != nil {
			logger.Error("reload failed part-way", "err", err)
			continue
		}
		_ = level.UnmarshalText([]byte(cfg.Log.Level))
		logger.Info("configuration reloaded", "config", f.config)
	}
}

func newLogger(c config.LogConfig, level *slog.LevelVar, w io.Writer) *slog.Logger {
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level.Set(slog.LevelInfo)
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
