package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/wal"
)

// Draining a node that will not come back: its data directory is self-
// contained (each relay's log, cursors, dead letters and pending
// continuous-query backfills), so another machine can open a copy of it
// with the same config and deliver what the dead node held. Drain is
// `influxgate drain`; `influxgate run` on the copy would do the same while
// also serving, which is not wanted from a stand-in.

// DrainOptions configure Drain.
type DrainOptions struct {
	Logger *slog.Logger
	// Progress, when set, is called every ProgressInterval (default 5s)
	// with what is left while the drain goes on.
	Progress         func(left []Left, elapsed time.Duration)
	ProgressInterval time.Duration
}

// Left is one backend that has not received the whole log of a relay.
type Left struct {
	Relay   string // the listener, listener/shard or [[udp]] section
	Backend string
	State   string // live, replaying, down
	Records uint64
	Bytes   int64
	// Backfill is the continuous-query backfill still to run ("pending",
	// "queued", "running"), or "".
	Backfill  string
	LastError string
}

// DrainResult is what a drain did.
type DrainResult struct {
	Relays  int
	Elapsed time.Duration
	// Left is empty when every backend of every relay received its whole
	// log and ran its continuous-query backfill.
	Left []Left
	// DeadLetters counts, per relay/backend, the records in dead-letter
	// stores: they are not part of the log to deliver (influxgate
	// dead-letter lists and replays them).
	DeadLetters map[string]uint64
}

// drainPoll is how often Drain checks whether it is done.
const drainPoll = 100 * time.Millisecond

// Drain opens every relay of cfg's data directory as New does (taking the
// data-dir lock: the node must not be running on it), binds no listener,
// starts delivery and waits until every backend's cursor has reached the
// end of its log, or until ctx is done. Then it saves the cursors and
// closes the logs. An error means the relays could not be opened; a drain
// that ran out of time returns the backends that are still behind in
// Left. A config whose log is in NATS JetStream is refused: such a node
// has no log of its own.
func Drain(ctx context.Context, cfg *config.Config, opts DrainOptions) (res DrainResult, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = 5 * time.Second
	}
	if cfg.LogStore.NATS() {
		// Opening the relays would join the other nodes in delivering
		// from the shared streams, and the data directory holds no log.
		return res, errors.New(`the config keeps the write log in NATS JetStream ([log-store] engine = "nats"): ` +
			"a node holds no log of its own, so there is nothing to drain; the running nodes deliver what the streams hold")
	}
	if fi, err := os.Stat(cfg.DataDir); err != nil || !fi.IsDir() {
		if err == nil {
			err = fs.ErrInvalid
		}
		return res, fmt.Errorf("data-dir %s: %w (drain opens an existing data directory)", cfg.DataDir, err)
	}
	s := &Server{cfg: cfg, opts: Options{Logger: opts.Logger}, logger: opts.Logger.With("component", "drain"),
		reg: prometheus.NewRegistry()}
	s.relayMetrics = relay.NewMetrics(s.reg)
	unlock, err := wal.LockDir(cfg.DataDir)
	if err != nil {
		return res, err
	}
	defer unlock()

	var relays []*relay.Relay
	defer func() {
		// Close saves every cursor: what was delivered is not sent again
		// by a later drain or run of this directory.
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		for _, r := range relays {
			errs = append(errs, r.Close(cctx))
		}
		if cerr := errors.Join(errs...); cerr != nil && err == nil {
			err = fmt.Errorf("closing the logs: %w", cerr)
		}
	}()
	for _, hc := range cfg.HTTP {
		sets, sh, err := s.openSets(cfg, hc)
		if err != nil {
			return res, err
		}
		if sh != nil {
			sh.close() // the relays are all a drain needs
		}
		for _, rs := range sets {
			relays = append(relays, rs.relay)
		}
	}
	syncMode, err := wal.ParseSyncMode(cfg.Sync)
	if err != nil {
		return res, err
	}
	for _, uc := range cfg.UDP {
		r, err := s.openUDPRelay(uc, syncMode)
		if err != nil {
			return res, err
		}
		if r != nil {
			relays = append(relays, r)
		}
	}
	res.Relays = len(relays)
	start := time.Now()
	for _, r := range relays {
		r.Start()
	}
	poll := time.NewTicker(drainPoll)
	defer poll.Stop()
	nextProgress := start.Add(opts.ProgressInterval)
	for {
		res.Left = leftIn(relays)
		res.Elapsed = time.Since(start)
		if len(res.Left) == 0 {
			break
		}
		if opts.Progress != nil && time.Now().After(nextProgress) {
			opts.Progress(res.Left, res.Elapsed)
			nextProgress = nextProgress.Add(opts.ProgressInterval)
		}
		select {
		case <-ctx.Done():
			return res, nil
		case <-poll.C:
		}
	}
	res.DeadLetters = map[string]uint64{}
	for _, r := range relays {
		for _, b := range r.Stats().Backends {
			if b.DeadLetters > 0 {
				res.DeadLetters[r.Name()+"/"+b.Name] = b.DeadLetters
			}
		}
	}
	return res, nil
}

// leftIn lists the backends that still have records to receive or a
// continuous-query backfill to run.
func leftIn(relays []*relay.Relay) []Left {
	var out []Left
	for _, r := range relays {
		for _, b := range r.Stats().Backends {
			bf := ""
			if b.Backfill != nil && b.Backfill.State != "idle" {
				bf = b.Backfill.State
			}
			if b.Backlog.Records == 0 && bf == "" {
				continue
			}
			out = append(out, Left{Relay: r.Name(), Backend: b.Name, State: b.State.String(),
				Records: b.Backlog.Records, Bytes: b.Backlog.Bytes, Backfill: bf, LastError: b.LastError})
		}
	}
	return out
}
