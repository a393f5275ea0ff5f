package rebalance

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/replica"
	"github.com/influxgate/influxgate/internal/shard"
)

// task is a key found on a shard that does not own it: from is the shard
// it is on (its owner before the rebalance), to its owner now.
type task struct {
	sc       replica.Scope
	id       string // the placement key, as rebalance/keys records it
	from, to string
}

// keyID is the placement key of a scope (shard.AppendKey).
func (e *engine) keyID(sc replica.Scope) string {
	return string(shard.AppendKey(nil, sc.Database, []byte(sc.Measurement), []byte(sc.Value), e.tag != ""))
}

// holdings lists the keys each shard holds: the union over its replicas,
// so that a key on one replica only is found too. A replica that is down
// is waited for.
func (e *engine) holdings(ctx context.Context) (map[string]map[string]replica.Scope, error) {
	out := map[string]map[string]replica.Scope{}
	for _, name := range e.allShards() {
		held := map[string]replica.Scope{}
		for _, c := range e.shards[name].clients {
			var scopes []replica.Scope
			err := e.retrying(ctx, "list the keys of "+c.Name(), func() (err error) {
				scopes, err = replica.ListScopes(ctx, c, e.tag, e.sopts)
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("shard %s: %w", name, err)
			}
			for _, sc := range scopes {
				held[e.keyID(sc)] = sc
			}
		}
		out[name] = held
	}
	return out, nil
}

// tasks lists the keys that are on a shard that owned them before the
// rebalance and does not own them now. Keys on a shard that neither owned
// them before nor owns them now are reported and left alone: the
// rebalance did not put them there.
func (e *engine) tasks(ctx context.Context) ([]task, error) {
	held, err := e.holdings(ctx)
	if err != nil {
		return nil, err
	}
	var out []task
	for _, name := range slices.Sorted(maps.Keys(held)) {
		for _, id := range slices.Sorted(maps.Keys(held[name])) {
			sc := held[name][id]
			before, after := e.from.Owner([]byte(id)), e.to.Owner([]byte(id))
			switch {
			case name == after:
			case name == before:
				if e.cleared[id] {
					e.printf("note: %s is on shard %s again after it was deleted there (a write that reached it late); deleting it again", sc, name)
				}
				out = append(out, task{sc: sc, id: id, from: name, to: after})
			default:
				e.say.printf("note: shard %s holds %s, which belongs on shard %s and was not put there by the rebalance; left alone", name, sc, after)
			}
		}
	}
	return out, nil
}

// schema creates every database of the shards that may hold data on
// every replica of every shard that owns keys now, before any write of a
// moving key goes there.
func (e *engine) schema(ctx context.Context) error {
	source := map[string]*backend.Client{} // database -> a replica that has it
	for _, name := range e.allShards() {
		for _, c := range e.shards[name].clients {
			var dbs []string
			err := e.retrying(ctx, "list the databases of "+c.Name(), func() (err error) {
				dbs, err = databases(ctx, c)
				return err
			})
			if err != nil {
				return err
			}
			for _, db := range dbs {
				if source[db] == nil {
					source[db] = c
				}
			}
		}
	}
	for _, db := range slices.Sorted(maps.Keys(source)) {
		for _, name := range e.move.To {
			if err := e.ensureSchema(ctx, name, db, source[db]); err != nil {
				return err
			}
		}
	}
	return nil
}

// databases lists c's databases but _internal.
func databases(ctx context.Context, c *backend.Client) ([]string, error) {
	res, err := c.Query(ctx, "", "SHOW DATABASES")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, se := range res.Series {
		for _, row := range se.Values {
			if len(row) > 0 {
				if db, ok := row[0].(string); ok && db != "_internal" {
					out = append(out, db)
				}
			}
		}
	}
	return out, nil
}

// ensureSchema creates db on every replica of shard name as src has it.
func (e *engine) ensureSchema(ctx context.Context, name, db string, src *backend.Client) error {
	k := name + "\x00" + db
	if e.schemaDone[k] {
		return nil
	}
	for _, c := range e.shards[name].clients {
		if c == src {
			continue
		}
		var ran []string
		err := e.retrying(ctx, fmt.Sprintf("create database %s on %s", db, c.Name()), func() (err error) {
			ran, err = replica.CopySchema(ctx, src, c, db, e.sopts, func(note string) { e.printf("note: %s", note) })
			return err
		})
		if err != nil {
			return err
		}
		for _, q := range ran {
			e.printf("schema: %s (shard %s): %s", c.Name(), name, q)
		}
	}
	e.schemaDone[k] = true
	return nil
}

// copyKeys moves each key to its new owner and records it done; it
// returns the keys done. A key that cannot move now is put in e.left.
func (e *engine) copyKeys(ctx context.Context, tasks []task) ([]task, error) {
	if len(tasks) == 0 {
		return nil, nil
	}
	e.o.Progress.Start("move", int64(len(tasks)))
	defer e.o.Progress.Finish()
	var done []task
	for _, t := range tasks {
		err := e.retrying(ctx, "move "+t.sc.String(), func() error { return e.moveKey(ctx, t) })
		if err != nil && ctx.Err() != nil {
			return done, ctx.Err()
		}
		if err != nil {
			var p *problem
			if !asProblem(err, &p) {
				return done, fmt.Errorf("move %s from shard %s to %s: %w", t.sc, t.from, t.to, err)
			}
			e.printf("cannot move %s from shard %s to %s now: %s", t.sc, t.from, t.to, p.why)
			e.left[t.id] = Left{Key: t.sc, From: t.from, To: t.to, Why: p.why}
			continue
		}
		done = append(done, t)
		e.o.Progress.Add(1)
	}
	return done, nil
}

// problem is why a key cannot move now, for the operator; the key is
// tried again in the next round.
type problem struct{ why string }

func (p *problem) Error() string { return p.why }

func asProblem(err error, p **problem) bool {
	q, ok := err.(*problem)
	if ok {
		*p = q
	}
	return ok
}

// moveKey copies one key from its old owner to every replica of its new
// owner, verifies it there and records it done.
func (e *engine) moveKey(ctx context.Context, t task) error {
	old, nw := e.shards[t.from], e.shards[t.to]
	if err := e.ensureSchema(ctx, t.to, t.sc.Database, old.clients[0]); err != nil {
		return err
	}
	if len(old.clients) > 1 {
		// A write of the key on its way to the replicas makes them differ
		// for a moment; a replica behind or missing data differs longer.
		var diffs []replica.Difference
		for attempt := 0; attempt < 3; attempt++ {
			var err error
			if diffs, err = replica.CompareScope(ctx, old.clients, t.sc, e.sopts); err != nil {
				return err
			}
			if len(diffs) == 0 {
				break
			}
		}
		if len(diffs) > 0 {
			return &problem{fmt.Sprintf("the replicas of shard %s (%s) differ on it (%s): one is behind (see /health) or misses data (influxgate verify -shard %s)",
				t.from, old.names(), describe(diffs), t.from)}
		}
	}
	res, err := replica.CopyScope(ctx, old.clients[0], nw.clients, t.sc, e.sopts)
	if err != nil {
		return err
	}
	if len(res.Remaining) > 0 {
		return &problem{fmt.Sprintf("shard %s (%s) still differs from %s after the copy (%s): writes of this key racing with the copy, or points that %s lacks",
			t.to, nw.names(), old.clients[0].Name(), describe(res.Remaining), old.clients[0].Name())}
	}
	if err := e.state.AddKey(shard.KeyEvent{Done: t.id}); err != nil {
		return fmt.Errorf("record %s as moved: %w", t.sc, err)
	}
	e.done[t.id] = true
	e.doneAt[t.id] = time.Now()
	e.res.Moved++
	e.printf("moved %s from shard %s to %s: %d point(s) copied in %d bucket(s), verified on %s", t.sc, t.from, t.to, res.Points, res.Buckets, nw.names())
	return nil
}

// describe sums up differences in a few words.
func describe(diffs []replica.Difference) string {
	d := diffs[0]
	s := fmt.Sprintf("%s.%s bucket %s: %s", d.RetentionPolicy, d.Measurement, d.Bucket.Format(time.RFC3339), d.Detail)
	if len(diffs) > 1 {
		s += fmt.Sprintf(", and %d more bucket(s)", len(diffs)-1)
	}
	return s
}

// clearKeys deletes done keys from every replica of their old owner and
// records them cleared. It first waits until no write of them can reach
// the old owner any more: Settle after the latest "done" (or after
// notBefore, if later), the daemon has read it and writes them to their
// new owner only; then the old owner's backends must have received
// everything logged before that moment.
func (e *engine) clearKeys(ctx context.Context, tasks []task, notBefore time.Time) error {
	if len(tasks) == 0 {
		return nil
	}
	after := notBefore
	olds := map[string]bool{}
	for _, t := range tasks {
		at, ok := e.doneAt[t.id]
		if !ok {
			at = e.started
		}
		if a := at.Add(e.o.Settle); a.After(after) {
			after = a
		}
		olds[t.from] = true
	}
	if err := sleep(ctx, time.Until(after)); err != nil {
		return err
	}
	after, err := e.following(ctx, after, "has read the keys moved", nil)
	if err != nil {
		return err
	}
	e.say.reset()
	if err := e.gate.delivered(ctx, slices.Sorted(maps.Keys(olds)), after); err != nil {
		return err
	}
	e.say.reset()
	e.o.Progress.Start("delete", int64(len(tasks)))
	defer e.o.Progress.Finish()
	for _, t := range tasks {
		err := e.retrying(ctx, "delete "+t.sc.String()+" from shard "+t.from, func() error { return e.clearKey(ctx, t) })
		if err != nil {
			return fmt.Errorf("delete %s from shard %s: %w", t.sc, t.from, err)
		}
		e.o.Progress.Add(1)
	}
	return nil
}

// clearKey deletes one key from every replica of its old owner, checks
// that none holds a series of it any more, and records it cleared.
func (e *engine) clearKey(ctx context.Context, t task) error {
	var ran string
	for _, c := range e.shards[t.from].clients {
		q, err := replica.DeleteScope(ctx, c, t.sc, e.sopts)
		if err != nil {
			return err
		}
		ran = cmp.Or(ran, q)
		if left, err := replica.HasScope(ctx, c, t.sc, e.sopts); err != nil {
			return err
		} else if left {
			return fmt.Errorf("%s still holds series of %s after %s", c.Name(), t.sc, q)
		}
	}
	if err := e.state.AddKey(shard.KeyEvent{Cleared: t.id}); err != nil {
		return fmt.Errorf("record %s as deleted from shard %s: %w", t.sc, t.from, err)
	}
	e.cleared[t.id] = true
	e.res.Cleared++
	e.printf("deleted %s from shard %s (%s): %s", t.sc, t.from, e.shards[t.from].names(), cmp.Or(ran, "nothing left to delete"))
	return nil
}

// finish handles the keys found on their old owner once the rebalance is
// finishing and the daemon has read it (after): done keys are deleted
// there as usual; keys not done were first written during the rebalance,
// to both owners, so their new owner must hold at least what the old one
// holds, which is checked before the old copy is deleted. It returns
// false, with e.res.Left filled, when a key cannot be settled.
func (e *engine) finish(ctx context.Context, after time.Time) (bool, error) {
	tasks, err := e.tasks(ctx)
	if err != nil {
		return false, err
	}
	var clears []task
	for _, t := range tasks {
		if e.done[t.id] {
			clears = append(clears, t)
			continue
		}
		short, err := e.covered(ctx, t)
		if err != nil {
			return false, err
		}
		if short != "" {
			e.res.Left = append(e.res.Left, Left{Key: t.sc, From: t.from, To: t.to, Why: short})
			continue
		}
		if err := e.state.AddKey(shard.KeyEvent{Done: t.id}); err != nil {
			return false, fmt.Errorf("record %s as moved: %w", t.sc, err)
		}
		e.done[t.id] = true
		e.printf("%s was first written during the rebalance: shard %s holds all of it", t.sc, t.to)
		clears = append(clears, t)
	}
	if len(e.res.Left) > 0 {
		return false, nil
	}
	return true, e.clearKeys(ctx, clears, after)
}

// covered checks that every replica of t's new owner holds at least as
// many values per field and bucket as every replica of its old owner; it
// returns what falls short, or "".
func (e *engine) covered(ctx context.Context, t task) (string, error) {
	for _, o := range e.shards[t.from].clients {
		for _, n := range e.shards[t.to].clients {
			var diffs []replica.Difference
			err := e.retrying(ctx, "compare "+t.sc.String(), func() (err error) {
				diffs, err = replica.CoversScope(ctx, o, n, t.sc, e.sopts)
				return err
			})
			if err != nil {
				return "", err
			}
			if len(diffs) > 0 {
				return fmt.Sprintf("written during the rebalance, but %s holds less of it than %s (%s)", n.Name(), o.Name(), describe(diffs)), nil
			}
		}
	}
	return "", nil
}

// plan lists the keys to move with their point counts (a dry run).
func (e *engine) plan(ctx context.Context) error {
	tasks, err := e.tasks(ctx)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		var n int64
		err := e.retrying(ctx, "count "+t.sc.String(), func() (err error) {
			n, err = replica.CountScope(ctx, e.shards[t.from].clients[0], t.sc, e.sopts)
			return err
		})
		if err != nil {
			return err
		}
		e.res.Planned = append(e.res.Planned, Move{Key: t.sc, From: t.from, To: t.to, Points: n, Done: e.done[t.id]})
	}
	var total int64
	tw := tabwriter.NewWriter(e.o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tFROM\tTO\tPOINTS\tSTATE")
	for _, m := range e.res.Planned {
		state := "to move"
		if m.Done {
			state = "moved; to delete from " + m.From
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", m.Key, m.From, m.To, m.Points, state)
		total += m.Points
	}
	tw.Flush()
	e.printf("dry run: %d key(s) (about %d points) would move from shards %v to %v; nothing was changed",
		len(e.res.Planned), total, e.move.From, e.move.To)
	return nil
}
