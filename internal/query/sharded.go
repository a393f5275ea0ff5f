package query

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/shard"
)

// ShardRelay is what the gateway of a sharded listener needs of one
// shard's relay: freshness for routing reads, Append and Await to log a
// schema change on that shard.
type ShardRelay interface {
	Freshness
	Append(rec *record.Record) (relay.Ticket, error)
	Await(ctx context.Context, t relay.Ticket, c relay.Consistency) relay.Answer
}

// readier is a relay that can tell whether it takes appends now
// (*relay.Relay): a schema change is refused before it is logged on any
// shard when one of its shards cannot take it.
type readier interface{ Ready() error }

// ShardReplicas is one shard of a sharded listener, as the gateway sees it.
type ShardReplicas struct {
	Name    string
	Relay   ShardRelay
	Outputs []config.OutputConfig
}

// ShardedOptions configure the gateway of a sharded listener.
type ShardedOptions struct {
	Set         *shard.Set
	Shards      []ShardReplicas // in the Set's order
	Query       config.QueryConfig
	Consistency relay.Consistency
	Gateway     bool
	Logger      *slog.Logger
	Metrics     *Metrics
	// MaxMergeBytes bounds the shard answers one request may hold in
	// memory to merge them (0: DefaultMaxMergeBytes).
	MaxMergeBytes int64
}

// DefaultMaxMergeBytes is the default bound on the shard answers one
// merged query may hold in memory.
const DefaultMaxMergeBytes = 32 << 20

// ShardedHandler serves /query and /api/v2/query of a sharded listener.
type ShardedHandler struct {
	opts   ShardedOptions
	shards []*replicas
	log    *slog.Logger
}

// NewSharded builds the gateway of a sharded listener.
func NewSharded(opts ShardedOptions) (*ShardedHandler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxMergeBytes <= 0 {
		opts.MaxMergeBytes = DefaultMaxMergeBytes
	}
	set := opts.Set.Shards()
	if len(set) != len(opts.Shards) {
		return nil, fmt.Errorf("sharded gateway: %d shards in the set, %d given", len(set), len(opts.Shards))
	}
	h := &ShardedHandler{opts: opts, log: opts.Logger.With("component", "query")}
	for i, sr := range opts.Shards {
		if set[i].Name != sr.Name {
			h.Close()
			return nil, fmt.Errorf("sharded gateway: shard %d is %q in the set and %q here", i, set[i].Name, sr.Name)
		}
		rt, err := newRouter(sr.Relay, sr.Outputs, opts.Query)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("shard %s: %w", sr.Name, err)
		}
		h.shards = append(h.shards, &replicas{shard: sr.Name, rt: rt, gateway: opts.Gateway,
			timeout: opts.Query.Timeout, log: h.log.With("shard", sr.Name), metrics: opts.Metrics})
	}
	return h, nil
}

// Close releases connections.
func (h *ShardedHandler) Close() {
	for _, rs := range h.shards {
		rs.rt.close()
	}
}

// ServeQuery handles /query: each statement is planned (sharded_plan.go);
// a query whose statements all go to one shard is sent there whole and
// its answer streamed back as the backend writes it; otherwise each
// statement runs on its shards and the answers are merged.
func (h *ShardedHandler) ServeQuery(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	req, ok := parseQueryRequest(w, r, h.opts.Gateway, h.opts.Metrics, start)
	if !ok {
		return
	}
	p := newPlanner(h.opts.Set, r.Form.Get("db"))
	plans := make([]*stmtPlan, len(req.parsed.Statements))
	for i, st := range req.parsed.Statements {
		sp, err := p.plan(st)
		if err != nil {
			fail(w, h.opts.Metrics, "query", http.StatusBadRequest, err.Error(), start)
			return
		}
		plans[i] = sp
	}
	if pos, ok := h.wholeRead(plans); ok {
		var cands []*target
		if pos < 0 {
			pos, cands = h.firstCaughtUp(p.all)
		} else {
			cands = h.shards[pos].rt.candidates()
		}
		h.shards[pos].forwardTo(w, r, cands, "query", nil, start)
		return
	}
	if targets, ok := wholeChange(plans); ok {
		// Logged with the client's own text and parameters, as the
		// unsharded gateway logs it.
		ans := h.logChange(r, targets, req.q, r.Form.Get("params"))
		status := writeChangeAnswer(w, ans, req.q)
		h.opts.Metrics.observe("query", "change", status, "", start)
		return
	}
	h.perStatement(w, r, p, plans, start)
}

// wholeRead reports whether every statement is a read one shard answers:
// the same shard for all (its position), or any shard (-1).
func (h *ShardedHandler) wholeRead(plans []*stmtPlan) (int, bool) {
	var one uint64
	for _, sp := range plans {
		switch {
		case sp.kind == planAny:
		case sp.kind == planRead && bits.OnesCount64(sp.shards) == 1 && (one == 0 || one == sp.shards):
			one = sp.shards
		default:
			return 0, false
		}
	}
	if one == 0 {
		return -1, true
	}
	return bits.TrailingZeros64(one), true
}

// wholeChange reports whether the request may be logged whole: its
// changes all go to the same shards, and its reads answer the same on
// every shard.
func wholeChange(plans []*stmtPlan) (uint64, bool) {
	var targets uint64
	for _, sp := range plans {
		switch sp.kind {
		case planAny:
		case planChange:
			if targets != 0 && targets != sp.shards {
				return 0, false
			}
			targets = sp.shards
		default:
			return 0, false
		}
	}
	return targets, targets != 0
}

// firstCaughtUp is the first shard in b (config order) with a backend
// that may serve reads, and its candidates; or the first in b and none
// when no shard has one (its answer is then the 503 that says so).
func (h *ShardedHandler) firstCaughtUp(b uint64) (int, []*target) {
	ps := positions(b)
	for _, i := range ps {
		if cands := h.shards[i].rt.candidates(); len(cands) > 0 {
			return i, cands
		}
	}
	return ps[0], nil
}

// clientError is an answer that ends a merged query: a refusal (400), a
// shard without an answer (503), or a backend's own error answer.
type clientError struct {
	status  int
	msg     string
	backend string
	header  http.Header
	body    []byte // the backend's answer, passed on as it is
}

func (e *clientError) Error() string { return e.msg }

func (h *ShardedHandler) writeError(w http.ResponseWriter, err error, start time.Time) {
	var ce *clientError
	var re *RefusedError
	switch {
	case errors.As(err, &ce) && ce.body != nil:
		copyHeader(w.Header(), ce.header)
		w.Header().Set("X-Influxgate-Backend", ce.backend)
		w.WriteHeader(ce.status)
		_, _ = w.Write(ce.body)
		h.opts.Metrics.observe("query", "read", ce.status, ce.backend, start)
	case errors.As(err, &ce):
		fail(w, h.opts.Metrics, "query", ce.status, ce.msg, start)
	case errors.As(err, &re):
		fail(w, h.opts.Metrics, "query", http.StatusBadRequest, re.Msg, start)
	case errors.Is(err, errAnswerTooLarge):
		fail(w, h.opts.Metrics, "query", http.StatusBadRequest, fmt.Sprintf(
			"the shards' answers to this query exceed the %s influxgate merges in memory: narrow it (a shorter time range, fewer series, LIMIT) or pin it to one shard",
			sizeOf(h.opts.MaxMergeBytes)), start)
	default:
		fail(w, h.opts.Metrics, "query", http.StatusInternalServerError, err.Error(), start)
	}
}

// perStatement runs each statement on its shards, in order, and writes
// the merged answers. As influxd, it stops at the first statement that
// fails.
func (h *ShardedHandler) perStatement(w http.ResponseWriter, r *http.Request, p *planner, plans []*stmtPlan, start time.Time) {
	f := negotiate(r)
	if f.contentType == "application/x-msgpack" {
		fail(w, h.opts.Metrics, "query", http.StatusNotAcceptable,
			"influxgate writes answers merged from several shards as JSON or CSV: ask for application/json or application/csv", start)
		return
	}
	ctx, cancel := withTimeout(r.Context(), h.opts.Query.Timeout)
	defer cancel()
	bud := newBudget(h.opts.MaxMergeBytes)
	var answers []*answer
	var used []string
	for i, sp := range plans {
		var a *answer
		var err error
		switch sp.kind {
		case planChange:
			a, err = h.runChange(r, sp, i)
		default:
			a, err = h.runRead(ctx, r, p, sp, &f, bud, &used)
		}
		if err != nil {
			if r.Context().Err() != nil {
				return // the client went away
			}
			h.writeError(w, err, start)
			return
		}
		a.res.StatementID = i
		answers = append(answers, a)
		if a.res.Err != "" {
			// influxd stops after a failed statement and then sends
			// "not executed" once for each statement after it but the
			// last, all under the failed statement's id (which is what
			// its clients see).
			for j := i; j < len(plans)-1; j++ {
				answers = append(answers, &answer{res: &result{StatementID: i, Err: "not executed"}})
			}
			break
		}
	}
	if !f.chunked {
		answers = joinFailed(answers)
	}
	if len(used) > 0 {
		w.Header().Set("X-Influxgate-Backend", strings.Join(used, ","))
	}
	writeAnswers(w, f, answers)
	class := "read"
	for _, sp := range plans {
		if sp.kind == planChange {
			class = "change"
		}
	}
	h.opts.Metrics.observe("query", class, http.StatusOK, "", start)
}

// sizeOf writes a size in MiB or KiB.
func sizeOf(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// joinFailed does what influxd does to the results of a failed query when
// it writes them whole: a result for the same statement replaces the
// previous one.
func joinFailed(answers []*answer) []*answer {
	var out []*answer
	for _, a := range answers {
		if n := len(out); n > 0 && out[n-1].res.StatementID == a.res.StatementID && a.res.Err != "" {
			out[n-1] = a
			continue
		}
		out = append(out, a)
	}
	return out
}

// readForm is what a shard is asked: one statement, with epoch times
// (the client's epoch, or nanoseconds), chunked so that no max-row-limit
// of the backend cuts it.
func readForm(r *http.Request, q, epoch string) url.Values {
	form := url.Values{"q": {q}, "chunked": {"true"}, "chunk_size": {"10000"}}
	for _, k := range []string{"db", "rp"} {
		if v := r.Form.Get(k); v != "" {
			form.Set(k, v)
		}
	}
	if epoch == "" {
		epoch = "ns"
	}
	form.Set("epoch", epoch)
	return form
}
