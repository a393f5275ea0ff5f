package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/influxdata/influxql"

	"github.com/influxgate/influxgate/internal/relay"
)

// Running planned statements: reads on one or several shards, changes
// through the shards' logs.

// runRead runs a read statement on its shards and merges their answers.
func (h *ShardedHandler) runRead(ctx context.Context, r *http.Request, p *planner, sp *stmtPlan, f *format, bud *budget, used *[]string) (*answer, error) {
	shards := positions(sp.shards)
	var anyCands []*target
	if sp.kind == planAny {
		var pos int
		pos, anyCands = h.firstCaughtUp(p.all)
		shards = []int{pos}
	}
	send := sp.send
	if send == nil || len(shards) == 1 {
		// One shard answers the statement as it is: the rewrites (LIMIT
		// pushed down, aggregates in parts) are for merges.
		send = sp.stmt
	}
	var strays *strayCheck
	if sp.strays == straysExclude && len(shards) > 1 {
		var err error
		if strays, err = h.findStrays(ctx, r, p, sp, shards, bud); err != nil {
			return nil, err
		}
	}
	var resps []*response
	var backends []string
	for attempt := 1; ; attempt++ {
		texts := make([]string, len(shards))
		for j := range shards {
			texts[j] = strays.statement(j, send)
		}
		mark := bud.left.Load()
		var err error
		if resps, backends, err = h.fetchShards(ctx, r, shards, anyCands, texts, f.epoch, bud); err != nil {
			return nil, err
		}
		grown, err := strays.recheck(resps)
		if err != nil {
			return nil, err
		}
		if grown == "" {
			break
		}
		if attempt == strayAttempts {
			return nil, &clientError{status: http.StatusServiceUnavailable,
				msg: fmt.Sprintf("during a rebalance, shard %s received points of keys it does not serve while this statement ran, %d times: retry", grown, attempt)}
		}
		// The attempt's answers are dropped: their bytes no longer count
		// against the merge's bound.
		bud.left.Store(mark)
	}
	*used = append(*used, backends...)
	parts := make([]part, len(shards))
	for j, pos := range shards {
		resp := resps[j]
		f.backendVersion(resp.version)
		res := &result{}
		if len(resp.Results) > 0 {
			res = resp.Results[0]
		}
		if resp.Err != "" && res.Err == "" {
			res.Err = resp.Err
		}
		parts[j] = part{shard: h.shards[pos].shard, res: res}
	}
	a := &answer{style: sp.style, times: sp.times, loc: sp.loc}
	if len(parts) == 1 {
		a.res = parts[0].res
		return a, nil
	}
	var keep func(shard string, s *series) bool
	route := p.route
	switch sp.strays {
	case straysByName:
		for _, pt := range parts {
			for _, s := range pt.res.Series {
				if s.Name == "" {
					return nil, refuse("this statement's answer is not per measurement, so it cannot leave out what shard %s holds of measurements in motion during a rebalance: retry when influxgate rebalance has finished", pt.shard)
				}
			}
		}
		keep = func(shard string, s *series) bool { return !route.Strays(shard, p.set.Key(sp.db, s.Name, "")) }
	case straysByTag:
		keep = func(shard string, s *series) bool {
			return !route.Strays(shard, p.set.Key(sp.db, s.Name, s.Tags[p.tag]))
		}
	}
	res, err := merge(sp, parts, keep)
	if err != nil {
		return nil, err
	}
	a.res = res
	return a, nil
}

// fetchShards runs texts[j] on shard shards[j], all at once, and returns
// their answers and the backends that gave them.
func (h *ShardedHandler) fetchShards(ctx context.Context, r *http.Request, shards []int, anyCands []*target, texts []string, epoch string, bud *budget) ([]*response, []string, error) {
	resps := make([]*response, len(shards))
	errs := make([]error, len(shards))
	backends := make([]string, len(shards))
	var wg sync.WaitGroup
	for j, pos := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resps[j], backends[j], errs[j] = h.fetch(ctx, r, pos, anyCands, readForm(r, texts[j], epoch), bud)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	return resps, backends, nil
}

// fetch runs a form on a caught-up backend of one shard (falling back as
// reads do) and decodes the answer. An answer other than 200 ends the
// query: it is passed to the client as the backend gave it.
func (h *ShardedHandler) fetch(ctx context.Context, r *http.Request, pos int, cands []*target, form url.Values, bud *budget) (*response, string, error) {
	rs := h.shards[pos]
	if cands == nil {
		cands = rs.rt.candidates()
	}
	if len(cands) == 0 {
		return nil, "", &clientError{status: http.StatusServiceUnavailable, msg: rs.noneCaughtUp()}
	}
	client := clientAuth(r, "query")
	a, err := rs.try(cands, r.Context(), func(t *target) (*http.Request, error) {
		u, err := url.Parse(t.client.BaseURL())
		if err != nil {
			return nil, err
		}
		u.User = nil
		u.Path += "/query"
		hdr := http.Header{"Accept": {"application/json"}, "User-Agent": {"influxgate"},
			"Content-Type": {"application/x-www-form-urlencoded"}}
		if id := r.Header.Get("X-Request-Id"); id != "" {
			hdr.Set("X-Request-Id", id)
		}
		params := url.Values{}
		rs.setCredentials(t, hdr, params, client)
		u.RawQuery = params.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header = hdr
		return req, nil
	})
	switch {
	case err != nil:
		return nil, "", &clientError{status: http.StatusBadRequest, msg: err.Error()}
	case a.gone:
		return nil, "", context.Canceled
	case a.kept != nil && a.resp == nil:
		return nil, a.kept.backend, &clientError{status: a.kept.status, backend: a.kept.backend, header: a.kept.header, body: a.kept.body}
	case a.resp == nil:
		rs.log.Warn("every backend failed a read", "failures", strings.Join(a.failures, "; "))
		return nil, "", &clientError{status: http.StatusServiceUnavailable, msg: rs.allFailed(a.failures)}
	}
	defer a.resp.Body.Close()
	name := a.target.name
	if a.resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(a.resp.Body, maxKeptAnswer))
		return nil, name, &clientError{status: a.resp.StatusCode, backend: name, header: a.resp.Header, body: body}
	}
	resp, err := decodeAnswer(budgetReader{r: a.resp.Body, b: bud})
	if err != nil {
		if errors.Is(err, errAnswerTooLarge) {
			return nil, name, errAnswerTooLarge
		}
		if r.Context().Err() != nil {
			return nil, name, context.Canceled
		}
		h.opts.Metrics.backendFailed(name)
		return nil, name, &clientError{status: http.StatusServiceUnavailable,
			msg: fmt.Sprintf("shard %s: backend %s: answer cut off: %v", rs.shard, name, err)}
	}
	resp.version = a.resp.Header.Get("X-Influxdb-Version")
	return resp, name, nil
}

// runChange logs one statement of a multi-statement request on its
// shards and returns its result.
func (h *ShardedHandler) runChange(r *http.Request, sp *stmtPlan, i int) (*answer, error) {
	switch sp.stmt.(type) {
	case *influxql.CreateUserStatement, *influxql.SetPasswordUserStatement:
		// Their text prints the password redacted: only the request's
		// own text can be logged.
		return nil, refuse("on a sharded listener, send CREATE USER and SET PASSWORD in a request of their own (or with statements that go to every shard)")
	}
	ans := h.logChange(r, sp.shards, sp.text, "")
	if ans.Status >= 400 {
		return nil, &clientError{status: ans.Status, msg: ans.Message(), header: http.Header{"Content-Type": {"application/json"}},
			body: ans.Body}
	}
	a := &answer{style: chunkWhole}
	if ans.Status == http.StatusNoContent {
		a.res = &result{Messages: []message{{Level: "warning", Text: queuedText}}}
		return a, nil
	}
	var resp response
	dec := json.NewDecoder(strings.NewReader(string(ans.Body)))
	dec.UseNumber()
	if err := dec.Decode(&resp); err != nil || len(resp.Results) == 0 {
		a.res = &result{Err: resp.Err}
		return a, nil
	}
	a.res = resp.Results[0]
	_, a.times = sp.stmt.(*influxql.SelectStatement)
	return a, nil
}

// logChange logs a schema change on the target shards: each is asked
// whether it takes appends first, then every target is appended before
// any is awaited. The answer is the first target's (in config order)
// when all accept, a refusal otherwise; a SELECT ... INTO answers the sum
// of the points written on every shard.
func (h *ShardedHandler) logChange(r *http.Request, targets uint64, q, params string) relay.Answer {
	ps := positions(targets)
	for _, pos := range ps {
		if rd, ok := h.opts.Shards[pos].Relay.(readier); ok {
			if err := rd.Ready(); err != nil {
				return relay.ErrorAnswer(http.StatusServiceUnavailable, "shard %s: %v", h.opts.Shards[pos].Name, err)
			}
		}
	}
	tickets := make([]relay.Ticket, len(ps))
	answers := make([]relay.Answer, len(ps))
	appended := make([]bool, len(ps))
	for j, pos := range ps {
		rec := changeRecord(r, q, params, h.opts.Gateway)
		t, err := h.opts.Shards[pos].Relay.Append(&rec)
		if err != nil {
			answers[j] = relay.AnswerOf(err)
			continue
		}
		tickets[j], appended[j] = t, true
	}
	for j, pos := range ps {
		if appended[j] {
			answers[j] = h.opts.Shards[pos].Relay.Await(r.Context(), tickets[j], h.opts.Consistency)
		}
	}
	for _, a := range answers {
		if a.Status >= 400 {
			return a
		}
	}
	first := -1
	for j, a := range answers {
		if a.Status != http.StatusNoContent {
			first = j
			break
		}
	}
	if first < 0 {
		return answers[0] // stored everywhere, applied nowhere yet
	}
	if len(answers) > 1 {
		if sum, ok := sumWritten(answers); ok {
			return relay.Answer{Status: answers[first].Status, Body: sum}
		}
	}
	return answers[first]
}

// queuedText is the warning of a change stored but not applied yet.
const queuedText = "influxgate stored this statement; no backend could apply it yet, each will in order when it catches up"

// sumWritten adds up the "written" counts of SELECT ... INTO answers from
// several shards; ok is false unless every answer is such a result.
func sumWritten(answers []relay.Answer) ([]byte, bool) {
	var out *response
	for _, a := range answers {
		if a.Status != http.StatusOK {
			return nil, false
		}
		var resp response
		dec := json.NewDecoder(strings.NewReader(string(a.Body)))
		dec.UseNumber()
		if dec.Decode(&resp) != nil {
			return nil, false
		}
		if out == nil {
			out = &resp
			continue
		}
		if len(resp.Results) != len(out.Results) {
			return nil, false
		}
		for i, res := range resp.Results {
			o := out.Results[i]
			if !isWritten(res) || !isWritten(o) {
				return nil, false
			}
			a, _ := toNum(o.Series[0].Values[0][1])
			b, _ := toNum(res.Series[0].Values[0][1])
			o.Series[0].Values[0][1] = a.add(b).value()
		}
	}
	if out == nil {
		return nil, false
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, false
	}
	return append(b, '\n'), true
}

func isWritten(res *result) bool {
	if res.Err != "" || len(res.Series) != 1 {
		return false
	}
	s := res.Series[0]
	if s.Name != "result" || len(s.Columns) != 2 || s.Columns[1] != "written" || len(s.Values) != 1 || len(s.Values[0]) != 2 {
		return false
	}
	_, ok := toNum(s.Values[0][1])
	return ok
}
