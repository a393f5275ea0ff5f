package query

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/influxdata/influxql"
)

// maxStrayValues bounds the shard-tag values one shard may hold in
// excess during a rebalance for a statement that must leave them out.
const maxStrayValues = 10000

// strayAttempts bounds how many times a statement runs when shards keep
// receiving points of keys they do not serve while it runs.
const strayAttempts = 3

// strayCheck leaves out, on each shard a merged statement reads during a
// rebalance with tag sharding, the shard-tag values that the shard holds
// but does not serve ("K" != 'v' ...).
//
// Only the shard knows which values it holds, so it is asked (SHOW TAG
// VALUES) before the statement runs. What it holds can grow in the
// meantime: the rebalance copies a key to its new owner, and a moving key
// is written to both owners. A value that first reached the shard after
// the listing would be counted there and on the shard that serves it. So
// the listing is asked again behind the statement, in the same request:
// influxd runs a request's statements in order on one server, so the
// second listing sees every series the statement saw. When it shows a
// value the condition did not leave out, the statement runs again
// without it.
type strayCheck struct {
	h      *ShardedHandler
	p      *planner
	sp     *stmtPlan
	shards []int
	// show lists the values (and the measurements of regex sources);
	// nshow is its number of statements.
	show  string
	nshow int
	// named are the statement's measurements given by name.
	named []string
	// values[j] are the values shards[j] holds but does not serve, sorted.
	values [][]string
}

// findStrays asks each shard which shard-tag values of the statement's
// measurements it holds but does not serve.
func (h *ShardedHandler) findStrays(ctx context.Context, r *http.Request, p *planner, sp *stmtPlan, shards []int, bud *budget) (*strayCheck, error) {
	c := &strayCheck{h: h, p: p, sp: sp, shards: shards, values: make([][]string, len(shards))}
	show := &influxql.ShowTagValuesStatement{Database: sp.db, Sources: sp.sources, Op: influxql.EQ,
		TagKeyExpr: &influxql.StringLiteral{Val: p.tag}}
	c.show, c.nshow = show.String(), 1
	for _, m := range sp.sources.Measurements() {
		if m.Regex == nil {
			c.named = append(c.named, m.Name)
			continue
		}
		c.show += "; " + (&influxql.ShowMeasurementsStatement{Database: sp.db, Source: &influxql.Measurement{Regex: m.Regex}}).String()
		c.nshow++
	}
	for j, pos := range shards {
		form := readForm(r, c.show, "")
		form.Del("db")
		resp, _, err := h.fetch(ctx, r, pos, nil, form, bud)
		if err != nil {
			return nil, err
		}
		if c.values[j], err = c.held(j, resp.Results); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// held reads the answers to the listing from shards[j] and returns the
// values there that the shard does not serve.
func (c *strayCheck) held(j int, results []*result) ([]string, error) {
	name := c.h.shards[c.shards[j]].shard
	if len(results) != c.nshow {
		return nil, &clientError{status: http.StatusServiceUnavailable,
			msg: fmt.Sprintf("shard %s: finding the keys it holds during the rebalance: %d answers to %d statements", name, len(results), c.nshow)}
	}
	ms := slices.Clone(c.named)
	values := map[string][]string{} // measurement → values held
	for _, res := range results {
		if res.Err != "" {
			return nil, &clientError{status: http.StatusServiceUnavailable,
				msg: fmt.Sprintf("shard %s: finding the keys it holds during the rebalance: %s", name, res.Err)}
		}
		for _, s := range res.Series {
			for _, row := range s.Values {
				switch {
				case len(row) == 2 && len(s.Columns) == 2 && s.Columns[1] == "value":
					v, _ := row[1].(string)
					values[s.Name] = append(values[s.Name], v)
				case len(row) == 1:
					if m, ok := row[0].(string); ok {
						ms = append(ms, m)
					}
				}
			}
		}
	}
	for m := range values {
		ms = append(ms, m)
	}
	slices.Sort(ms)
	ms = slices.Compact(ms)
	var strays []string
	for i, m := range ms {
		var st []string
		for _, v := range append(values[m], "") {
			if c.p.route.Strays(name, c.p.set.Key(c.sp.db, m, v)) {
				st = append(st, v)
			}
		}
		slices.Sort(st)
		st = slices.Compact(st)
		if i > 0 && !slices.Equal(st, strays) {
			return nil, refuse("during a rebalance, shard %s holds copies of different %s values for the measurements of this statement (%s, %s): query one measurement at a time, or retry when influxgate rebalance has finished",
				name, quoteIdent(c.p.tag), ms[0], m)
		}
		strays = st
	}
	if len(strays) > maxStrayValues {
		return nil, refuse("during a rebalance, shard %s holds %d %s values in motion for this statement: pin one shard with WHERE %s = '...', or retry when influxgate rebalance has finished",
			name, len(strays), quoteIdent(c.p.tag), quoteIdent(c.p.tag))
	}
	return strays, nil
}

// statement is the text sent to shards[j]: send, leaving out the values
// that shard does not serve, followed by the listing. A nil check sends
// send alone.
func (c *strayCheck) statement(j int, send influxql.Statement) string {
	if c == nil {
		return send.String()
	}
	var cond influxql.Expr
	for _, v := range c.values[j] {
		ne := &influxql.BinaryExpr{Op: influxql.NEQ, LHS: &influxql.VarRef{Val: c.p.tag, Type: influxql.Tag}, RHS: &influxql.StringLiteral{Val: v}}
		if cond == nil {
			cond = ne
		} else {
			cond = &influxql.BinaryExpr{Op: influxql.AND, LHS: cond, RHS: ne}
		}
	}
	if cond == nil {
		return send.String() + "; " + c.show
	}
	sel := send.(*influxql.SelectStatement).Clone()
	cond = &influxql.ParenExpr{Expr: cond}
	if sel.Condition != nil {
		cond = &influxql.BinaryExpr{Op: influxql.AND, LHS: &influxql.ParenExpr{Expr: sel.Condition}, RHS: cond}
	}
	sel.Condition = cond
	return sel.String() + "; " + c.show
}

// recheck reads the listings that followed the statement on each shard
// and adds the values that were not left out. It returns the name of a
// shard where such a value appeared ("" when none did: the answers are
// exact).
func (c *strayCheck) recheck(resps []*response) (string, error) {
	if c == nil {
		return "", nil
	}
	grown := ""
	for j, resp := range resps {
		if resp.Err != "" || len(resp.Results) == 0 || resp.Results[0].Err != "" {
			// The statement failed (and influxd ran nothing after it):
			// the error is the answer, with nothing counted twice.
			continue
		}
		now, err := c.held(j, resp.Results[1:])
		if err != nil {
			return "", err
		}
		var added []string
		for _, v := range now {
			if _, found := slices.BinarySearch(c.values[j], v); !found {
				added = append(added, v)
			}
		}
		if len(added) > 0 {
			c.values[j] = append(c.values[j], added...)
			slices.Sort(c.values[j])
			grown = c.h.shards[c.shards[j]].shard
		}
	}
	return grown, nil
}
