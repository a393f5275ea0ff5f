package query

import (
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/influxdata/influxql"

	"github.com/influxgate/influxgate/internal/shard"
)

// The planner of a sharded listener decides, per statement, which shards
// run it and how their answers become one: the rules of docs/sharding.md
// ("Queries on a sharded listener"). A statement it cannot answer exactly
// is refused with a *RefusedError that says why and how to rewrite it.

// planKind says where a statement goes.
type planKind uint8

const (
	// planAny: the answer is the same on every shard (SHOW DATABASES,
	// users, retention policies, ...) or describes one backend (SHOW
	// DIAGNOSTICS, STATS, ...): one shard runs it.
	planAny planKind = iota
	// planRead: a read on the shards of the plan, merged by its mode.
	planRead
	// planChange: logged on the shards of the plan, applied by every
	// backend of each in order with the writes.
	planChange
)

// mergeMode says how the answers of several shards become one.
type mergeMode uint8

const (
	// mergeSeries: every series lives whole on one shard: concatenate,
	// in InfluxDB's series order.
	mergeSeries mergeMode = iota
	// mergeRows: a raw SELECT whose series are spread over shards: rows
	// merged by time within each series, LIMIT and OFFSET after.
	mergeRows
	// mergeAggregate: count, sum, min, max and mean combined per series
	// and time.
	mergeAggregate
	// mergeSelector: one min() or max() without GROUP BY time: the
	// winning row, with its time and the other fields.
	mergeSelector
	// mergeShowList: SHOW MEASUREMENTS, SHOW SERIES: union, sort,
	// de-duplicate, then LIMIT and OFFSET.
	mergeShowList
	// mergeShowPerName: SHOW TAG KEYS, TAG VALUES, FIELD KEYS: the same
	// per measurement.
	mergeShowPerName
	// mergeSum: cardinalities of disjoint sets: summed per series.
	mergeSum
)

// strayRule says how a fan-out leaves out what a shard holds but does
// not serve during a rebalance.
type strayRule uint8

const (
	straysNone strayRule = iota
	// straysByName: drop series of measurements the shard does not serve.
	straysByName
	// straysByTag: drop series whose shard-tag value the shard does not
	// serve (series grouped by the tag).
	straysByTag
	// straysExclude: add "K" != 'v' conditions for the values the shard
	// does not serve.
	straysExclude
)

// aggColumn is one output column of mergeAggregate: its function and the
// columns of the shards' answers it is computed from (sum and count for
// mean).
type aggColumn struct {
	fn  string
	src []int
}

// stmtPlan is the plan of one statement.
type stmtPlan struct {
	stmt   influxql.Statement
	kind   planKind
	shards uint64 // positions in the set, a bit each
	mode   mergeMode
	// send is what the shards run; nil means stmt itself.
	send influxql.Statement
	// style is how influxd would cut the answer into chunks.
	style chunkStyle
	// times: a SELECT, whose column 0 holds times; loc its tz().
	times bool
	loc   *time.Location
	// limit and offset are re-applied after the merge: to the rows of
	// each series (SELECT, SHOW ... per measurement) or of the list.
	limit, offset int
	desc          bool
	// tagUnion: GROUP BY * or a regex: the tag keys of every series are
	// the union over the shards (missing ones are "").
	tagUnion bool
	// fields of the statement, for the column union of wildcards.
	fields influxql.Fields
	agg    []aggColumn
	names  []string // output columns after time (mergeAggregate)
	// selectorCol is the column of min() or max() (mergeSelector), and
	// selectorMax whether it is max.
	selectorCol int
	selectorMax bool
	strays      strayRule
	db          string
	// sources of the statement (stray discovery).
	sources influxql.Sources
	// text is what a change logs; whole marks a change that may be
	// logged with the request's own text when it is the only kind.
	text string
}

func bit(i int) uint64 { return 1 << uint(i) }

// positions lists the set bits of b in order.
func positions(b uint64) []int {
	var out []int
	for b != 0 {
		i := bits.TrailingZeros64(b)
		out = append(out, i)
		b &^= bit(i)
	}
	return out
}

// planner plans the statements of one request against one routing.
type planner struct {
	set   *shard.Set
	route *shard.Route
	tag   string // the shard tag K; "" for shard-key = "measurement"
	pos   map[string]int
	// holders are the shards that may hold data: the placement's and,
	// during a rebalance, the previous placement's.
	holders uint64
	// all are the configured shards.
	all uint64
	// db is the request's db parameter.
	db string
}

func newPlanner(set *shard.Set, db string) *planner {
	p := &planner{set: set, route: set.Route(), tag: set.ByTag(), pos: map[string]int{}, db: db}
	for i, s := range set.Shards() {
		p.pos[s.Name] = i
		p.all |= bit(i)
	}
	for _, n := range p.route.To().Names() {
		p.holders |= bit(p.pos[n])
	}
	if from, ok := p.route.From(); ok {
		for _, n := range from.Names() {
			p.holders |= bit(p.pos[n])
		}
	}
	return p
}

// owner returns the position of the shard that serves a key's reads.
func (p *planner) owner(db, measurement, tagValue string) int {
	return p.pos[p.route.ReadOwner(p.set.Key(db, measurement, tagValue))]
}

// keyHolders returns the shards that may hold points of a key: the one
// serving it, and during a rebalance those holding stray copies.
func (p *planner) keyHolders(db, measurement, tagValue string) uint64 {
	key := p.set.Key(db, measurement, tagValue)
	b := bit(p.pos[p.route.ReadOwner(key)])
	if p.route.Moving() {
		for i, s := range p.set.Shards() {
			if p.route.Strays(s.Name, key) {
				b |= bit(i)
			}
		}
	}
	return b
}

func (p *planner) dbOf(database string) string {
	if database != "" {
		return database
	}
	return p.db
}

func refuse(format string, args ...any) error {
	return &RefusedError{Msg: fmt.Sprintf(format, args...)}
}

// plan plans one statement.
func (p *planner) plan(st influxql.Statement) (*stmtPlan, error) {
	sp := &stmtPlan{stmt: st, kind: planRead, style: chunkWhole}
	switch s := st.(type) {
	case *influxql.SelectStatement:
		if s.Target != nil {
			return p.planInto(s)
		}
		return p.planSelect(s)
	case *influxql.ExplainStatement:
		inner, err := p.planSelect(s.Statement)
		if err != nil {
			return nil, err
		}
		if bits.OnesCount64(inner.shards) > 1 {
			return nil, refuse("EXPLAIN of a statement that reads from several shards describes one server's plan only: run it on a backend of each shard directly")
		}
		sp.shards = inner.shards
		return sp, nil
	case *influxql.ShowDatabasesStatement, *influxql.ShowRetentionPoliciesStatement,
		*influxql.ShowUsersStatement, *influxql.ShowGrantsForUserStatement,
		*influxql.ShowContinuousQueriesStatement, *influxql.ShowSubscriptionsStatement,
		*influxql.ShowDiagnosticsStatement, *influxql.ShowStatsStatement,
		*influxql.ShowQueriesStatement, *influxql.ShowShardsStatement,
		*influxql.ShowShardGroupsStatement:
		sp.kind = planAny
		return sp, nil
	case *influxql.KillQueryStatement:
		return nil, refuse("KILL QUERY is not relayed on a sharded listener: query ids belong to one backend; run it on that backend directly")
	case *influxql.ShowMeasurementsStatement:
		c := *s
		sp.mode, sp.shards = mergeShowList, p.holders
		sp.limit, sp.offset = s.Limit, s.Offset
		c.Limit, c.Offset = pushDown(s.Limit, s.Offset)
		sp.send = &c
		return sp, nil
	case *influxql.ShowSeriesStatement:
		c := *s
		sp.mode, sp.style = mergeShowList, chunkRows
		sp.shards = p.sourceShards(s.Sources, p.dbOf(s.Database))
		sp.limit, sp.offset = s.Limit, s.Offset
		c.Limit, c.Offset = pushDown(s.Limit, s.Offset)
		sp.send = &c
		return sp, nil
	case *influxql.ShowTagKeysStatement:
		c := *s
		sp.mode, sp.style = mergeShowPerName, chunkSeries
		sp.shards = p.sourceShards(s.Sources, p.dbOf(s.Database))
		if (s.SLimit != 0 || s.SOffset != 0) && bits.OnesCount64(sp.shards) > 1 {
			return nil, refuse("SLIMIT and SOFFSET on SHOW TAG KEYS are not supported on a sharded listener when the measurements are on several shards: use LIMIT and OFFSET, or name the measurements with FROM")
		}
		sp.limit, sp.offset = s.Limit, s.Offset
		c.Limit, c.Offset = pushDown(s.Limit, s.Offset)
		sp.send = &c
		return sp, nil
	case *influxql.ShowTagValuesStatement:
		c := *s
		sp.mode, sp.style = mergeShowPerName, chunkSeries
		sp.shards = p.sourceShards(s.Sources, p.dbOf(s.Database))
		sp.limit, sp.offset = s.Limit, s.Offset
		c.Limit, c.Offset = pushDown(s.Limit, s.Offset)
		sp.send = &c
		return sp, nil
	case *influxql.ShowFieldKeysStatement:
		c := *s
		sp.mode, sp.style = mergeShowPerName, chunkRows
		sp.shards = p.sourceShards(s.Sources, p.dbOf(s.Database))
		sp.limit, sp.offset = s.Limit, s.Offset
		c.Limit, c.Offset = pushDown(s.Limit, s.Offset)
		sp.send = &c
		return sp, nil
	case *influxql.ShowSeriesCardinalityStatement:
		// Series are disjoint across shards: their counts add up.
		return p.planCardinality(sp, s.Sources, p.dbOf(s.Database), true, "SHOW SERIES CARDINALITY", "")
	case *influxql.ShowMeasurementCardinalityStatement:
		return p.planCardinality(sp, s.Sources, p.dbOf(s.Database), p.tag == "", "SHOW MEASUREMENT CARDINALITY", "SHOW MEASUREMENTS")
	case *influxql.ShowTagKeyCardinalityStatement:
		return p.planCardinality(sp, s.Sources, p.dbOf(s.Database), p.tag == "", "SHOW TAG KEY CARDINALITY", "SHOW TAG KEYS")
	case *influxql.ShowTagValuesCardinalityStatement:
		return p.planCardinality(sp, s.Sources, p.dbOf(s.Database), p.tag == "", "SHOW TAG VALUES CARDINALITY", "SHOW TAG VALUES")
	case *influxql.ShowFieldKeyCardinalityStatement:
		return p.planCardinality(sp, s.Sources, p.dbOf(s.Database), p.tag == "", "SHOW FIELD KEY CARDINALITY", "SHOW FIELD KEYS")
	}
	return p.planChange(st)
}

// pushDown is the LIMIT and OFFSET to send to each shard when the merge
// applies them after the union: the first limit+offset of each shard
// hold the first limit+offset of the union.
func pushDown(limit, offset int) (int, int) {
	if limit > 0 {
		return limit + offset, 0
	}
	return 0, 0
}

// planCardinality plans a cardinality statement: answered by one shard
// when its measurements are on one, summed when the counted things are
// disjoint across shards (disjoint), refused otherwise.
func (p *planner) planCardinality(sp *stmtPlan, sources influxql.Sources, db string, disjoint bool, what, instead string) (*stmtPlan, error) {
	sp.shards = p.sourceShards(sources, db)
	sp.style = chunkRows
	if bits.OnesCount64(sp.shards) == 1 {
		return sp, nil
	}
	if !disjoint {
		return nil, refuse("%s is not exact across the shards of a listener sharded by tag %q (the same names occur on several shards, and their counts do not add up): run %s instead (influxgate merges it across shards) and count its rows",
			what, p.tag, instead)
	}
	sp.mode = mergeSum
	if p.route.Moving() {
		if p.tag != "" {
			return nil, refuse("%s is not exact across shards while a rebalance moves data (moved keys are held by two shards): retry when influxgate rebalance has finished", what)
		}
		sp.strays, sp.db = straysByName, db
	}
	return sp, nil
}

// sourceShards returns the shards holding the data of measurement
// sources (every shard that may hold data when there are none, or a
// regular expression names them).
func (p *planner) sourceShards(sources influxql.Sources, db string) uint64 {
	if len(sources) == 0 {
		return p.holders
	}
	var b uint64
	for _, src := range sources {
		switch src := src.(type) {
		case *influxql.Measurement:
			b |= p.measurementShards(src, db, nil)
		case *influxql.SubQuery:
			sb, _ := p.selectShards(src.Statement)
			b |= sb
		}
	}
	return b
}

// measurementShards returns the shards that serve a measurement's reads,
// given the shard-tag values the statement pins (nil: not pinned).
func (p *planner) measurementShards(m *influxql.Measurement, db string, pins []string) uint64 {
	if m.Regex != nil {
		return p.holders
	}
	db = dbOfSource(m, db)
	if p.tag == "" {
		return bit(p.owner(db, m.Name, ""))
	}
	if pins == nil {
		return p.holders
	}
	var b uint64
	for _, v := range pins {
		b |= bit(p.owner(db, m.Name, v))
	}
	if b == 0 {
		// No value can match: any shard gives the empty answer.
		b = bit(p.owner(db, m.Name, ""))
	}
	return b
}

func dbOfSource(m *influxql.Measurement, db string) string {
	if m.Database != "" {
		return m.Database
	}
	return db
}

// selectShards returns the shards that hold the data a SELECT reads, and
// whether it reads a subquery.
func (p *planner) selectShards(s *influxql.SelectStatement) (uint64, bool) {
	var b uint64
	sub := false
	pins := p.pins(s.Condition)
	for _, src := range s.Sources {
		switch src := src.(type) {
		case *influxql.Measurement:
			b |= p.measurementShards(src, p.db, pins)
		case *influxql.SubQuery:
			sb, _ := p.selectShards(src.Statement)
			b |= sb
			sub = true
		}
	}
	return b, sub
}

// pins returns the values of the shard tag that a condition requires
// (K = 'v' in its top-level AND, or an OR of such equalities), nil when
// it does not pin the tag.
func (p *planner) pins(cond influxql.Expr) []string {
	if p.tag == "" || cond == nil {
		return nil
	}
	var pinned []string
	found := false
	for _, c := range conjuncts(cond) {
		vals, ok := p.equalities(c)
		if !ok {
			continue
		}
		if !found {
			pinned, found = vals, true
			continue
		}
		pinned = slices.DeleteFunc(pinned, func(v string) bool { return !slices.Contains(vals, v) })
	}
	if found && pinned == nil {
		pinned = []string{}
	}
	return pinned
}

// conjuncts splits a condition at its top-level ANDs.
func conjuncts(e influxql.Expr) []influxql.Expr {
	switch e := e.(type) {
	case *influxql.ParenExpr:
		return conjuncts(e.Expr)
	case *influxql.BinaryExpr:
		if e.Op == influxql.AND {
			return append(conjuncts(e.LHS), conjuncts(e.RHS)...)
		}
	}
	return []influxql.Expr{e}
}

// equalities reads K = 'v' or an OR of such equalities.
func (p *planner) equalities(e influxql.Expr) ([]string, bool) {
	switch e := e.(type) {
	case *influxql.ParenExpr:
		return p.equalities(e.Expr)
	case *influxql.BinaryExpr:
		switch e.Op {
		case influxql.OR:
			l, ok := p.equalities(e.LHS)
			if !ok {
				return nil, false
			}
			r, ok := p.equalities(e.RHS)
			if !ok {
				return nil, false
			}
			return append(l, r...), true
		case influxql.EQ:
			ref, lit := e.LHS, e.RHS
			if _, ok := ref.(*influxql.StringLiteral); ok {
				ref, lit = lit, ref
			}
			v, ok := ref.(*influxql.VarRef)
			s, ok2 := lit.(*influxql.StringLiteral)
			if ok && ok2 && v.Val == p.tag && (v.Type == influxql.Unknown || v.Type == influxql.Tag) {
				return []string{s.Val}, true
			}
		}
	}
	return nil, false
}

// groupsByTag reports whether a SELECT groups by the shard tag: GROUP BY
// K, GROUP BY *, or a regular expression that matches K.
func (p *planner) groupsByTag(s *influxql.SelectStatement) bool {
	for _, d := range s.Dimensions {
		switch e := d.Expr.(type) {
		case *influxql.VarRef:
			if e.Val == p.tag {
				return true
			}
		case *influxql.Wildcard:
			return true
		case *influxql.RegexLiteral:
			if e.Val.MatchString(p.tag) {
				return true
			}
		}
	}
	return false
}

// groupsByTagAtEveryLevel is groupsByTag for the statement and each of
// its subqueries.
func (p *planner) groupsByTagAtEveryLevel(s *influxql.SelectStatement) bool {
	if !p.groupsByTag(s) {
		return false
	}
	for _, src := range s.Sources {
		if sq, ok := src.(*influxql.SubQuery); ok && !p.groupsByTagAtEveryLevel(sq.Statement) {
			return false
		}
	}
	return true
}

// hasTagUnion reports GROUP BY * or a regex: the tag keys of the series
// depend on which measurements and series a server holds.
func hasTagUnion(s *influxql.SelectStatement) bool {
	for _, d := range s.Dimensions {
		switch d.Expr.(type) {
		case *influxql.Wildcard, *influxql.RegexLiteral:
			return true
		}
	}
	return false
}

// stmtDB is the database of a statement's measurement sources.
func (p *planner) stmtDB(sources influxql.Sources) string {
	for _, m := range sources.Measurements() {
		return dbOfSource(m, p.db)
	}
	return p.db
}

func quoteIdent(s string) string { return influxql.QuoteIdent(s) }
