// Command influxgate is a high-availability write relay and query gateway
// for InfluxDB. See README.md.
//
//	influxgate -config FILE              run (as influxdb-relay is started)
//	influxgate run -config FILE          the same
//	influxgate check-config -config FILE validate; exit 1 listing every problem
//	influxgate dead-letter|verify|resync|rebalance  see influxgate -h
//	influxgate version                   (or -version, --version)
//	influxgate -h                        every command and the run flags
//
// Exit status: 0 for help and version, 2 for a usage error; each command
// documents the rest.
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
	"strings"
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
		return runServer(args, stdout, stderr)
	case "check-config":
		return checkConfig(args, stdout, stderr)
	case "dead-letter":
		return deadLetter(args, stdout, stderr)
	case "verify":
		return verify(args, stdout, stderr)
	case "resync":
		return resync(args, stdout, stderr)
	case "rebalance":
		return rebalanceCmd(args, stdout, stderr)
	case "version":
		fs := flag.NewFlagSet("version", flag.ContinueOnError)
		if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
			return code
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "influxgate version: unexpected argument %q\n", fs.Arg(0))
			return 2
		}
		printVersion(stdout)
		return 0
	case "help":
		// "influxgate help CMD" is "influxgate CMD -h".
		if len(args) > 0 && args[0] != "help" {
			return run([]string{args[0], "-h"}, stdout, stderr)
		}
		return run([]string{"-h"}, stdout, stderr)
	}
	fmt.Fprintf(stderr, "influxgate: unknown command %q\n\n", cmd)
	usage(stderr)
	return 2
}

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "influxgate %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

const usageText = `usage:
  influxgate [run] -config FILE [-data-dir DIR] [-log-level LEVEL] [-log-format text|json]
  influxgate check-config -config FILE [-data-dir DIR]
  influxgate dead-letter -config FILE -output NAME [-listener NAME] list|replay|purge
  influxgate verify -config FILE [-listener NAME] [-shard NAME] [-db DB] [-start T] [-end T] [-bucket 1h]
  influxgate resync -config FILE -from NAME -to NAME [-listener NAME] [-shard NAME] [-db DB] [-start T] [-end T] [-rate N]
  influxgate rebalance -config FILE [-listener NAME] [-dry-run] [-rate N]
  influxgate version
  influxgate help [COMMAND]

FILE may be a native influxgate TOML file, an influxdb-relay TOML file or an
Inmate config.yaml. "influxgate COMMAND -h" lists a command's flags.
`

func usage(w io.Writer) { fmt.Fprint(w, usageText) }

// synopsis is the line of usageText that shows command name.
func synopsis(name string) string {
	for _, line := range strings.Split(usageText, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "influxgate "+name+" ") || line == "influxgate "+name {
			return line
		}
	}
	return "influxgate " + name
}

// parseFlags parses a command's flags. -h (or -help, --help) prints the
// command's help to stdout, and the caller returns 0; a bad flag prints
// the error and the help to stderr, and the caller returns 2. ok is true
// when the command should go on. The help of run, the default command,
// is the whole usage, so that "influxgate -h" shows every command.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.Usage = func() {
		if fs.Name() == "run" {
			usage(fs.Output())
		} else {
			fmt.Fprintf(fs.Output(), "usage:\n  %s\n", synopsis(fs.Name()))
		}
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(fs.Output(), "\nflags of %s:\n", fs.Name())
			fs.PrintDefaults()
		}
	}
	fs.SetOutput(io.Discard) // Parse would print errors and help there; done below instead
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return 0, false
	}
	fs.SetOutput(stderr)
	fmt.Fprintf(stderr, "%s: %v\n\n", prefix(fs.Name()), err)
	fs.Usage()
	return 2, false
}

type runFlags struct {
	config, dataDir, logLevel, logFormat string
}

// prefix starts a command's error messages; run is the default command,
// usually started without its name.
func prefix(name string) string {
	if name == "run" {
		return "influxgate"
	}
	return "influxgate " + name
}

// parseRunFlags parses the flags of run and check-config; ok is false
// when the command is done (help, -version, a usage error) with exit code.
func parseRunFlags(name string, args []string, stdout, stderr io.Writer) (f *runFlags, code int, ok bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	f = &runFlags{}
	fs.StringVar(&f.config, "config", "", "config file (native TOML, influxdb-relay TOML or Inmate YAML)")
	fs.StringVar(&f.dataDir, "data-dir", "", "overrides the config's data-dir")
	fs.StringVar(&f.logLevel, "log-level", "", "overrides [log] level: debug, info, warn, error")
	fs.StringVar(&f.logFormat, "log-format", "", "overrides [log] format: text or json")
	showVersion := false
	if name == "run" {
		fs.BoolVar(&showVersion, "version", false, "print the version and exit, as influxgate version does")
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return nil, code, false
	}
	switch {
	case showVersion:
		printVersion(stdout)
		return nil, 0, false
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q (influxgate -h lists the commands)\n", prefix(name), fs.Arg(0))
		return nil, 2, false
	case f.config == "":
		fmt.Fprintf(stderr, "%s: -config FILE is required (influxgate -h lists the commands and flags)\n", prefix(name))
		return nil, 2, false
	}
	return f, 0, true
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

func runServer(args []string, stdout, stderr io.Writer) int {
	f, code, ok := parseRunFlags("run", args, stdout, stderr)
	if !ok {
		return code
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
	f, code, ok := parseRunFlags("check-config", args, stdout, stderr)
	if !ok {
		return code
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
