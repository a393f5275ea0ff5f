package query

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/influxdata/influxql"
)

// Planning SELECT statements (see sharded_plan.go for the others).

// aliasPrefix names the columns of a statement rewritten for the shards;
// no client column can be mistaken for one.
const aliasPrefix = "__influxgate_"

// mathFunctions work row by row: a raw SELECT with them merges by time
// like one without.
var mathFunctions = map[string]bool{"abs": true, "sin": true, "cos": true, "tan": true, "asin": true, "acos": true,
	"atan": true, "atan2": true, "exp": true, "log": true, "ln": true, "log2": true, "log10": true, "sqrt": true,
	"pow": true, "floor": true, "ceil": true, "round": true}

// exactFunctions are the functions computed exactly across shards.
var exactFunctions = map[string]bool{"count": true, "sum": true, "min": true, "max": true, "mean": true}

func (p *planner) planSelect(s *influxql.SelectStatement) (*stmtPlan, error) {
	sp := &stmtPlan{stmt: s, kind: planRead, style: chunkRows, times: true, loc: s.Location,
		fields: s.Fields, desc: descending(s), db: p.stmtDB(s.Sources), sources: s.Sources}
	b, sub := p.selectShards(s)
	sp.shards = b
	if bits.OnesCount64(b) <= 1 {
		return sp, nil
	}
	sp.tagUnion = hasTagUnion(s)
	if p.tag == "" {
		if sub {
			return nil, refuse("a subquery over measurements on different shards (%s) cannot be answered exactly: each shard holds only its own measurements, and the outer query would combine them; query one measurement at a time",
				p.names(b))
		}
		// Every measurement lives whole on one shard: its series are
		// answered there, SLIMIT and LIMIT included (InfluxDB applies
		// SLIMIT per measurement).
		sp.mode = mergeSeries
		if p.route.Moving() {
			sp.strays = straysByName
		}
		return sp, nil
	}
	k := quoteIdent(p.tag)
	pin := fmt.Sprintf("pin one shard with WHERE %s = '...'", k)
	if p.groupsByTagAtEveryLevel(s) {
		if s.SLimit != 0 || s.SOffset != 0 {
			return nil, refuse("SLIMIT and SOFFSET across the shards of a listener sharded by tag %q are not exact (InfluxDB applies them per measurement within each storage shard of a server): %s, or leave them out",
				p.tag, pin)
		}
		// Each series has one value of the tag: it lives whole on one
		// shard.
		sp.mode = mergeSeries
		if p.route.Moving() {
			sp.strays = straysByTag
		}
		return sp, nil
	}
	if sub {
		return nil, refuse("a subquery across the shards of a listener sharded by tag %q is answered only when every level groups by it (GROUP BY %s or GROUP BY *), or the inner statement pins one shard (WHERE %s = '...'): otherwise the outer query combines series that different shards hold",
			p.tag, k, k)
	}
	if s.SLimit != 0 || s.SOffset != 0 {
		return nil, refuse("SLIMIT and SOFFSET across the shards of a listener sharded by tag %q are not exact (InfluxDB applies them per measurement within each storage shard of a server): %s, or leave them out",
			p.tag, pin)
	}
	if p.route.Moving() {
		sp.strays = straysExclude
	}
	if isRaw(s) {
		// Rows of one series come from several shards: merged by time,
		// LIMIT and OFFSET applied to the merge.
		c := s.Clone()
		c.Limit, c.Offset = pushDown(s.Limit, s.Offset)
		sp.mode, sp.send = mergeRows, c
		sp.limit, sp.offset = s.Limit, s.Offset
		return sp, nil
	}
	return p.planAggregate(sp, s)
}

// names lists the names of the shards in b.
func (p *planner) names(b uint64) string {
	var out []string
	for _, i := range positions(b) {
		out = append(out, p.set.Shards()[i].Name)
	}
	return strings.Join(out, ", ")
}

func descending(s *influxql.SelectStatement) bool {
	return len(s.SortFields) > 0 && !s.SortFields[0].Ascending
}

func unparen(e influxql.Expr) influxql.Expr {
	for {
		p, ok := e.(*influxql.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

// isRaw reports a SELECT without functions other than row-by-row math.
func isRaw(s *influxql.SelectStatement) bool {
	raw := true
	influxql.WalkFunc(s.Fields, func(n influxql.Node) {
		if c, ok := n.(*influxql.Call); ok && !mathFunctions[c.Name] {
			raw = false
		}
	})
	return raw
}

// expands reports a field that stands for a number of columns that
// depends on the data: a wildcard, a regular expression, or a function of
// one.
func expands(e influxql.Expr) bool {
	switch e := unparen(e).(type) {
	case *influxql.Wildcard, *influxql.RegexLiteral:
		return true
	case *influxql.Call:
		if len(e.Args) > 0 {
			return expands(e.Args[0])
		}
	}
	return false
}

// planAggregate plans a SELECT with functions across the shards of a
// tag-sharded listener: exact for count, sum, min, max and mean (as sum
// and count) of fields, refused for the rest.
func (p *planner) planAggregate(sp *stmtPlan, s *influxql.SelectStatement) (*stmtPlan, error) {
	k := quoteIdent(p.tag)
	rewrite := fmt.Sprintf("add GROUP BY %s (one result per %s value, each computed where its data is), or pin one shard with WHERE %s = '...'", k, k, k)
	interval, err := s.GroupByInterval()
	if err != nil {
		return nil, refuse("%v", err)
	}
	var calls []*influxql.Call
	callField := -1
	aux := 0
	for i, f := range s.Fields {
		switch e := unparen(f.Expr).(type) {
		case *influxql.Call:
			calls = append(calls, e)
			callField = i
		case *influxql.VarRef:
			aux++
		case *influxql.Wildcard, *influxql.RegexLiteral:
			return nil, refuse("a wildcard next to functions is not supported across the shards of a listener sharded by tag %q: name the fields, or %s", p.tag, rewrite)
		default:
			return nil, refuse("math on the results of functions (%s) is not supported across the shards of a listener sharded by tag %q: select the functions alone and compute the expression in the client, or %s",
				f.Expr, p.tag, rewrite)
		}
	}
	for _, c := range calls {
		if !exactFunctions[c.Name] {
			return nil, refuse("%s() across the shards of a listener sharded by tag %q cannot be computed exactly: each shard holds only some of the series it combines; %s (count, sum, min, max and mean of a field are computed across shards)",
				c.Name, p.tag, rewrite)
		}
		if len(c.Args) != 1 {
			return nil, refuse("%s with %d arguments is not supported across shards: %s", c, len(c.Args), rewrite)
		}
		switch a := c.Args[0].(type) {
		case *influxql.VarRef:
		case *influxql.Wildcard, *influxql.RegexLiteral:
			return nil, refuse("%s across the shards of a listener sharded by tag %q: name the field, as in %s(\"value\"), or %s", c, p.tag, c.Name, rewrite)
		default:
			return nil, refuse("%s across the shards of a listener sharded by tag %q cannot be computed exactly (%s of %s): %s", c, p.tag, c.Name, a, rewrite)
		}
	}
	if len(calls) == 1 && (calls[0].Name == "min" || calls[0].Name == "max") && (aux > 0 || interval == 0) {
		// A selector: its row is a point's, with that point's time
		// (without GROUP BY time) and other fields.
		if interval > 0 {
			return nil, refuse("%s with other fields per GROUP BY time interval is not exact across the shards of a listener sharded by tag %q (when two shards hold the same extreme value, the other fields of the earlier point cannot be told): select %s alone, or %s",
				calls[0], p.tag, calls[0], rewrite)
		}
		c := s.Clone()
		c.Limit, c.Offset = pushDown(s.Limit, s.Offset)
		sp.mode, sp.send = mergeSelector, c
		sp.selectorCol, sp.selectorMax = 1+callField, calls[0].Name == "max"
		sp.limit, sp.offset = s.Limit, s.Offset
		return sp, nil
	}
	if aux > 0 {
		return nil, refuse("mixing functions with fields or tags is not supported across the shards of a listener sharded by tag %q: %s", p.tag, rewrite)
	}
	if s.Fill != influxql.NullFill && s.Fill != influxql.NoFill {
		return nil, refuse("fill(%s) is not supported across the shards of a listener sharded by tag %q (a shard without points in an interval would fill it): use fill(null) or fill(none) and fill in the client, or %s",
			fillName(s), p.tag, rewrite)
	}
	// Each shard computes the parts of each function, aliased so that
	// the columns are known: mean as sum and count.
	c := s.Clone()
	c.Fields = nil
	col := 1
	alias := func() string {
		a := fmt.Sprintf("%s%d", aliasPrefix, col)
		col++
		return a
	}
	for _, call := range calls {
		arg := call.Args[0]
		if call.Name == "mean" {
			sp.agg = append(sp.agg, aggColumn{fn: "mean", src: []int{col, col + 1}})
			c.Fields = append(c.Fields,
				&influxql.Field{Expr: &influxql.Call{Name: "sum", Args: []influxql.Expr{influxql.CloneExpr(arg)}}, Alias: alias()},
				&influxql.Field{Expr: &influxql.Call{Name: "count", Args: []influxql.Expr{influxql.CloneExpr(arg)}}, Alias: alias()})
			continue
		}
		sp.agg = append(sp.agg, aggColumn{fn: call.Name, src: []int{col}})
		c.Fields = append(c.Fields, &influxql.Field{Expr: &influxql.Call{Name: call.Name, Args: []influxql.Expr{influxql.CloneExpr(arg)}}, Alias: alias()})
	}
	c.Limit, c.Offset = pushDown(s.Limit, s.Offset)
	sp.mode, sp.send = mergeAggregate, c
	sp.names = s.ColumnNames()[1:]
	sp.limit, sp.offset = s.Limit, s.Offset
	return sp, nil
}

func fillName(s *influxql.SelectStatement) string {
	switch s.Fill {
	case influxql.NumberFill:
		return fmt.Sprint(s.FillValue)
	case influxql.PreviousFill:
		return "previous"
	case influxql.LinearFill:
		return "linear"
	}
	return "null"
}

// planInto plans SELECT ... INTO: a change, run by the shards that hold
// its sources, allowed only when every point it writes stays on the shard
// that computes it.
func (p *planner) planInto(s *influxql.SelectStatement) (*stmtPlan, error) {
	if err := p.intoAllowed(s, "SELECT ... INTO", true); err != nil {
		return nil, err
	}
	b, _ := p.selectShards(s)
	return &stmtPlan{stmt: s, kind: planChange, shards: b, text: s.String()}, nil
}

// intoAllowed checks the rule for SELECT ... INTO and continuous queries
// on a sharded listener: into the database and the measurement they read
// (the same name or :MEASUREMENT) and, with tag sharding, grouped by the
// shard tag, so that each point lands on the shard that computed it.
// During a rebalance, a statement run now (now) must not read a key in
// motion: the shard that computes it holds only part of its data.
func (p *planner) intoAllowed(s *influxql.SelectStatement, what string, now bool) error {
	rule := fmt.Sprintf("on a sharded listener, %s must write every point on the shard that computes it: into the same database and into the measurement it reads (the same name, or :MEASUREMENT)", what)
	if p.tag != "" {
		rule += fmt.Sprintf(", grouped by the shard tag (GROUP BY %s or GROUP BY *)", quoteIdent(p.tag))
	}
	t := s.Target.Measurement
	db := dbOfSource(t, p.db)
	for _, src := range s.Sources {
		m, ok := src.(*influxql.Measurement)
		if !ok {
			return refuse("%s; this one reads a subquery", rule)
		}
		if d := dbOfSource(m, p.db); d != db {
			return refuse("%s; this one reads database %q and writes into database %q", rule, d, db)
		}
		if t.Name != "" && (m.Regex != nil || m.Name != t.Name) {
			return refuse("%s; this one writes into %q and reads %s", rule, t.Name, m)
		}
	}
	if p.tag != "" && !p.groupsByTag(s) {
		return refuse("%s; this one does not group by %s", rule, quoteIdent(p.tag))
	}
	if !now || !p.route.Moving() {
		return nil
	}
	busy := refuse("%s cannot run while a rebalance moves the data it reads (the shard that computes it may hold only part of it): retry when influxgate rebalance has finished", what)
	if p.tag != "" {
		return busy
	}
	for _, m := range s.Sources.Measurements() {
		if m.Regex != nil || bits.OnesCount64(p.keyHolders(db, m.Name, "")) > 1 {
			return busy
		}
	}
	return nil
}

// planChange plans a statement that changes schema or data: logged on
// every shard, or, for DROP MEASUREMENT, DELETE and DROP SERIES with
// shard-key = "measurement", on the shards that hold the measurement.
func (p *planner) planChange(st influxql.Statement) (*stmtPlan, error) {
	sp := &stmtPlan{stmt: st, kind: planChange, shards: p.all, text: st.String()}
	switch s := st.(type) {
	case *influxql.CreateContinuousQueryStatement:
		if s.Source == nil || s.Source.Target == nil {
			return sp, nil // InfluxDB refuses it
		}
		// Runs on every backend over its own data: allowed when what
		// it writes stays where it computed it.
		save := p.db
		p.db = s.Database
		err := p.intoAllowed(s.Source, "a continuous query", false)
		p.db = save
		if err != nil {
			return nil, err
		}
	case *influxql.DropMeasurementStatement:
		if p.tag == "" {
			sp.shards = p.keyHolders(p.db, s.Name, "")
		}
	case *influxql.DeleteSeriesStatement:
		sp.shards = p.changeShards(s.Sources)
	case *influxql.DropSeriesStatement:
		sp.shards = p.changeShards(s.Sources)
	}
	return sp, nil
}

// changeShards are the shards a DELETE or DROP SERIES goes to: those
// that may hold the named measurements with shard-key = "measurement";
// every shard otherwise.
func (p *planner) changeShards(sources influxql.Sources) uint64 {
	if p.tag != "" || len(sources) == 0 {
		return p.all
	}
	var b uint64
	for _, src := range sources {
		m, ok := src.(*influxql.Measurement)
		if !ok || m.Regex != nil {
			return p.all
		}
		b |= p.keyHolders(dbOfSource(m, p.db), m.Name, "")
	}
	return b
}
