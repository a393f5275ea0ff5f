package rebalance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/jetlog"
	"github.com/influxgate/influxgate/internal/replica"
	"github.com/influxgate/influxgate/internal/shard"
)

// Options configure Run.
type Options struct {
	// Config is the config with the shards the data must end on.
	Config *config.Config
	// Listener names the sharded [[http]] listener; "" picks the only one.
	Listener string
	// DryRun lists the keys that would move, with their point counts,
	// and changes nothing.
	DryRun bool
	// Rate limits the points written per second to each new replica (0:
	// no limit).
	Rate float64
	// Bucket, Concurrency, Recheck, Passes, BatchSize, ChunkSize and
	// Requests tune the comparisons and copies (replica.ScopeOptions).
	Bucket      time.Duration
	Concurrency int
	Recheck     time.Duration
	Passes      int
	BatchSize   int
	ChunkSize   int
	Requests    replica.Requests
	// GateURL is where the running influxgate answers /health ("": the
	// listener's bind-addr).
	GateURL string
	// Settle is how long after a key is done its old owner's copy is
	// kept, so that every influxgate has read the "done" (it polls the
	// state every second) before the copy goes (default 3s).
	Settle time.Duration
	// Retry is the wait before a key that could not move is tried again
	// (default 5s); Rounds bounds the listings of keys (default 5): keys
	// that could not move in as many rounds are reported as left.
	Retry  time.Duration
	Rounds int
	// Out receives one line per step; Progress the keys moved and
	// cleared (nil: none).
	Out      io.Writer
	Progress replica.Progress
}

func (o *Options) defaults() {
	if o.Settle <= 0 {
		o.Settle = 3 * time.Second
	}
	if o.Retry <= 0 {
		o.Retry = 5 * time.Second
	}
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
}

// Result is the outcome of Run.
type Result struct {
	// Listener is the listener rebalanced; From and To the shards that
	// owned keys before and after.
	Listener string
	From, To []string
	// Planned lists the keys to move (and, for a rebalance in progress,
	// those moved and not yet deleted from their old owner), with about
	// how many points each holds on its old owner.
	Planned []Move
	// Moved and Cleared count the keys this run copied and deleted from
	// their old owners.
	Moved, Cleared int
	// Left lists what is not in place, with why; empty when Finished.
	Left []Left
	// Finished reports that every key is on its owner and the placement
	// recorded.
	Finished bool
}

// Move is one key and where it goes.
type Move struct {
	Key      replica.Scope
	From, To string
	Points   int64
	Done     bool // copied and verified; its old owner's copy is still there
}

// Left is a key that is not in place.
type Left struct {
	Key      replica.Scope
	From, To string
	Why      string
}

// Run moves every key of a sharded listener that is not on its owner under
// the config to its owner (the package doc has the steps) and returns
// what it did. An error means it could not go on (a broken state file, a
// backend answering nonsense, ctx cancelled); everything done so far is
// recorded, and running it again resumes.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	h, err := shardedListener(o.Config, o.Listener)
	if err != nil {
		return nil, err
	}
	e := &engine{o: o, h: h, tag: h.ShardTag(),
		shards: map[string]*replicaSet{}, res: &Result{Listener: h.Name}, schemaDone: map[string]bool{},
		doneAt: map[string]time.Time{}, started: time.Now(),
		say: &throttled{w: o.Out, every: 10 * time.Second}}
	e.sopts = replica.ScopeOptions{Bucket: o.Bucket, Concurrency: o.Concurrency, Recheck: o.Recheck, Passes: o.Passes,
		BatchSize: o.BatchSize, ChunkSize: o.ChunkSize, Requests: o.Requests}
	if o.Rate > 0 {
		// The burst is one batch: a batch is the unit that waits.
		e.sopts.Limiter = rate.NewLimiter(rate.Limit(o.Rate), o.BatchSize)
	}
	defer e.close()
	if err := e.open(); err != nil {
		return e.res, err
	}
	if e.move == nil {
		return e.res, nil // nothing to move, or a dry run with nothing to list
	}
	if o.DryRun {
		return e.res, e.plan(ctx)
	}
	return e.res, e.run(ctx)
}

// shardedListener returns the sharded listener named, or the only one.
func shardedListener(cfg *config.Config, name string) (config.HTTPConfig, error) {
	var found []config.HTTPConfig
	for _, h := range cfg.HTTP {
		if (name == "" || h.Name == name) && h.Sharded() {
			found = append(found, h)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case name != "":
		return config.HTTPConfig{}, fmt.Errorf("no sharded [[http]] listener named %q", name)
	case len(found) == 0:
		return config.HTTPConfig{}, errors.New("no [[http]] listener is sharded")
	}
	var names []string
	for _, h := range found {
		names = append(names, fmt.Sprintf("%q", h.Name))
	}
	return config.HTTPConfig{}, fmt.Errorf("listeners %s are sharded: choose one with -listener", strings.Join(names, ", "))
}

// replicaSet is one shard as the rebalance reaches it: a client per
// output, in config order.
type replicaSet struct {
	name    string
	clients []*backend.Client
}

func (r *replicaSet) names() string {
	var n []string
	for _, c := range r.clients {
		n = append(n, c.Name())
	}
	return strings.Join(n, ", ")
}

type engine struct {
	o Options
	h config.HTTPConfig
	// state is the listener's placement and rebalance state; where names
	// it in messages; closeState ends its connection.
	state      shard.Store
	where      string
	closeState func()
	tag        string // the shard tag K, "" for shard-key = "measurement"
	sopts      replica.ScopeOptions
	shards     map[string]*replicaSet
	move       *shard.MoveState
	// from and to are the placements before and after.
	from, to      shard.Placement
	done, cleared map[string]bool
	unlock        func() error
	gate          *gate
	res           *Result
	say           *throttled
	// schemaDone holds "shard\x00db" once db exists on every replica of
	// the shard.
	schemaDone map[string]bool
	// doneAt is when this run appended "done" for a key; started is when
	// the run began (keys done by an earlier run count from then).
	doneAt  map[string]time.Time
	started time.Time
	// left are the keys that could not move in the last round.
	left map[string]Left
}

func (e *engine) printf(format string, args ...any) { fmt.Fprintf(e.o.Out, format+"\n", args...) }

// open reads the placement and the rebalance state, starts a rebalance
// when the config's shards differ from the placement, and connects to
// every shard involved.
func (e *engine) open() error {
	var owners, configured []string
	for _, sc := range e.h.Shards {
		configured = append(configured, sc.Name)
		if !sc.Retire {
			owners = append(owners, sc.Name)
		}
	}
	slices.Sort(owners)
	if err := e.openState(); err != nil {
		return err
	}
	placed, ok, err := e.state.Placement()
	if err != nil {
		return err
	}
	m, err := e.state.Move()
	if err != nil {
		return err
	}
	switch {
	case m != nil && !slices.Equal(m.To, owners):
		return fmt.Errorf("the rebalance in progress moves keys from shards %v to %v, but the config's shards own %v: run influxgate rebalance with the config that has shards %v",
			m.From, m.To, owners, m.To)
	case m == nil && !ok:
		return fmt.Errorf("listener %q has no placement recorded in %s: start influxgate once with a config of this listener, so that it records where the data is", e.h.Name, e.where)
	case m == nil && slices.Equal(slices.Sorted(slices.Values(placed)), owners):
		e.res.From, e.res.To, e.res.Finished = owners, owners, true
		e.printf("listener %q: every key is on its owner (shards %v); nothing to move", e.h.Name, owners)
		return nil
	case m == nil && e.o.DryRun:
		m = &shard.MoveState{From: slices.Sorted(slices.Values(placed)), To: owners}
	case m == nil:
		if _, err := shard.Open(e.state, owners, configured, nil); err != nil {
			return err
		}
		if m, err = e.state.Move(); err != nil || m == nil {
			return fmt.Errorf("start the rebalance in %s: %v", e.where, err)
		}
		e.printf("listener %q: started a rebalance from shards %v to %v", e.h.Name, m.From, m.To)
	default:
		e.printf("listener %q: resuming the rebalance from shards %v to %v started at %s", e.h.Name, m.From, m.To,
			m.Started.Format(time.RFC3339))
	}
	e.move = m
	e.res.From, e.res.To = m.From, m.To
	e.from, e.to = shard.NewPlacement(m.From), shard.NewPlacement(m.To)
	for _, n := range append(slices.Clone(m.From), m.To...) {
		if !slices.Contains(configured, n) {
			return fmt.Errorf("shard %q holds data but is not in the config: keep it, with retire = true, until the rebalance has moved its keys", n)
		}
	}
	for _, sc := range e.h.Shards {
		if !slices.Contains(m.From, sc.Name) && !slices.Contains(m.To, sc.Name) {
			continue
		}
		rs := &replicaSet{name: sc.Name}
		e.shards[sc.Name] = rs
		for _, out := range sc.Outputs {
			c, err := backend.New(out)
			if err != nil {
				return fmt.Errorf("shard %q: %w", sc.Name, err)
			}
			rs.clients = append(rs.clients, c)
		}
	}
	if e.done, e.cleared, err = e.state.MovedKeys(); err != nil {
		return err
	}
	if e.o.DryRun {
		return nil
	}
	// A second rebalance of the same listener would add to the same keys.
	if e.unlock, err = e.state.Lock(); err != nil {
		return fmt.Errorf("another influxgate rebalance runs on listener %q: %w", e.h.Name, err)
	}
	url := e.o.GateURL
	if url == "" {
		if url, err = gateURL(e.h); err != nil {
			return err
		}
	}
	e.gate = newGate(url, e.h.Name, e.say)
	return nil
}

// openState opens the listener's state: files in its directory, or with
// the log in NATS the bucket the nodes share.
func (e *engine) openState() error {
	if !e.o.Config.LogStore.NATS() {
		dir := e.o.Config.ListenerDir(e.h.Name)
		e.state, e.where = shard.Dir(dir), dir
		return nil
	}
	c, err := jetlog.Connect(e.o.Config.LogStore, "rebalance", nil)
	if err != nil {
		return err
	}
	e.state, e.closeState = jetlog.ShardState(c, e.h.Name), c.Close
	e.where = "NATS (bucket " + e.o.Config.LogStore.StreamPrefix + "_shard)"
	return nil
}

func (e *engine) close() {
	for _, rs := range e.shards {
		for _, c := range rs.clients {
			c.Close()
		}
	}
	if e.unlock != nil {
		_ = e.unlock()
	}
	if e.closeState != nil {
		e.closeState()
	}
}

// allShards are the shards involved, sorted.
func (e *engine) allShards() []string {
	var n []string
	for name := range e.shards {
		n = append(n, name)
	}
	slices.Sort(n)
	return n
}

// run is the rebalance itself (the package doc's steps).
func (e *engine) run(ctx context.Context) error {
	if err := e.schema(ctx); err != nil {
		return err
	}
	t0, err := e.gate.moving(ctx)
	if err != nil {
		return err
	}
	e.say.reset()
	if t0, err = e.following(ctx, t0, "writes moving keys to both shards", func(f shard.Follower) bool { return f.Moving }); err != nil {
		return err
	}
	e.say.reset()
	if err := e.gate.delivered(ctx, e.allShards(), t0); err != nil {
		return err
	}
	e.say.reset()
	if !e.move.Finishing {
		ok, err := e.rounds(ctx)
		if err != nil || !ok {
			return err
		}
		if err := e.state.MarkFinishing(e.move); err != nil {
			return fmt.Errorf("mark the rebalance finishing: %w", err)
		}
		e.printf("every key that was on a shard before the rebalance is moved; finishing: keys first written since go to their new owner alone")
	} else {
		e.printf("the rebalance was finishing; resuming there")
	}
	// The daemon reads the finishing mark within a poll; afterwards no
	// key that is not done is written to its old owner.
	after := time.Now().Add(e.o.Settle)
	if err := sleep(ctx, time.Until(after)); err != nil {
		return err
	}
	if after, err = e.following(ctx, after, "follows the finishing rebalance", func(f shard.Follower) bool { return f.Finishing }); err != nil {
		return err
	}
	e.say.reset()
	if err := e.gate.delivered(ctx, e.allShards(), after); err != nil {
		return err
	}
	e.say.reset()
	if ok, err := e.finish(ctx, after); err != nil || !ok {
		return err
	}
	if err := e.state.FinishMove(e.move.To); err != nil {
		return fmt.Errorf("record the new placement: %w", err)
	}
	e.res.Finished = true
	e.printf("rebalance finished: every key is on its owner; the placement is now %v", e.move.To)
	return nil
}

// rounds moves the keys the first listing finds on a shard that does not
// own them, listing again to retry those that could not move and to
// delete what is left on old owners, until nothing of that is left; false
// when keys are left after the last round.
//
// The first listing comes after every backend received what influxgate
// logged before it wrote moving keys to both owners, so it finds every key
// that has points written before; a key a later listing finds for the
// first time was written to both owners from its first point, and the
// finishing step settles it (waiting for listings without such keys would
// never end while new keys keep coming).
func (e *engine) rounds(ctx context.Context) (bool, error) {
	var first map[string]bool
	for round := 1; ; round++ {
		tasks, err := e.tasks(ctx)
		if err != nil {
			return false, err
		}
		if first == nil {
			first = map[string]bool{}
			for _, t := range tasks {
				first[t.id] = true
			}
		}
		var copies, clears, kept []task
		for _, t := range tasks {
			switch {
			case e.done[t.id]:
				clears = append(clears, t)
			case first[t.id]:
				copies = append(copies, t)
			default:
				continue
			}
			kept = append(kept, t)
		}
		tasks = kept
		if len(copies) == 0 && len(clears) == 0 {
			return true, nil
		}
		if round > e.o.Rounds {
			e.reportLeft(tasks)
			return false, nil
		}
		e.printf("round %d: %d key(s) to move, %d moved key(s) to delete from their old shard", round, len(copies), len(clears))
		e.left = map[string]Left{}
		moved, err := e.copyKeys(ctx, copies)
		if err != nil {
			return false, err
		}
		if err := e.clearKeys(ctx, append(clears, moved...), time.Time{}); err != nil {
			return false, err
		}
		if len(e.left) > 0 {
			e.printf("%d key(s) could not move this round; trying again in %s", len(e.left), e.o.Retry)
			if err := sleep(ctx, e.o.Retry); err != nil {
				return false, err
			}
		}
	}
}

// reportLeft records the keys not in place after the last round.
func (e *engine) reportLeft(tasks []task) {
	for _, t := range tasks {
		l, ok := e.left[t.id]
		if !ok {
			l = Left{Key: t.sc, From: t.from, To: t.to, Why: "moved, but not deleted from its old shard yet"}
			if !e.done[t.id] {
				l.Why = "not moved yet"
			}
		}
		e.res.Left = append(e.res.Left, l)
	}
}

// transient reports whether err is a failure of a backend that trying
// again later may cure (it is down, overloaded, or timed out).
func transient(err error) bool {
	var be *backend.Error
	return errors.As(err, &be) && be.Transient()
}

// retrying runs f until it succeeds or fails for another reason than a
// backend that is down, waiting Retry between attempts and saying why.
func (e *engine) retrying(ctx context.Context, what string, f func() error) error {
	for {
		err := f()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		e.say.printf("%s: %v; waiting for the backend, trying again every %s", what, err, e.o.Retry)
		if err := sleep(ctx, e.o.Retry); err != nil {
			return err
		}
	}
}

type nopProgress struct{}

func (nopProgress) Start(string, int64)       {}
func (nopProgress) Add(int64)                 {}
func (nopProgress) BucketDone(replica.Bucket) {}
func (nopProgress) Finish()                   {}
