// Package query is influxgate's query gateway: it classifies InfluxQL with
// InfluxDB's own parser, sends reads to one healthy, caught-up backend
// (streaming the answer back, falling back to the next on failure), and
// puts statements that change schema or data into the relay's log so that
// every backend applies them in order with the writes around them.
package query

import (
	"fmt"
	"strings"

	"github.com/influxdata/influxql"
)

// Class says where a request's statements go.
type Class uint8

const (
	// Read statements (SELECT without INTO, SHOW, EXPLAIN) go to one backend.
	Read Class = iota
	// Change statements (CREATE, DROP, ALTER, GRANT, REVOKE, SET PASSWORD,
	// DELETE, SELECT ... INTO, ...) go to every backend through the log. A
	// request that mixes reads and changes is a change.
	Change
)

func (c Class) String() string {
	if c == Read {
		return "read"
	}
	return "change"
}

// ParseError is InfluxDB's answer to an unparsable query.
type ParseError struct{ Err error }

func (e *ParseError) Error() string { return "error parsing query: " + e.Err.Error() }

// RefusedError is a statement influxgate will not relay, with why.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

// Classify parses q (with bound parameters) and returns its class. An
// unparsable query gives a *ParseError whose text is InfluxDB's
// ("error parsing query: ..."); a statement that has no meaning across
// replicas gives a *RefusedError.
func Classify(q string, params map[string]any) (Class, error) {
	_, class, err := Parse(q, params)
	return class, err
}

// Parse is Classify that also returns the parsed query, for a caller that
// checks its statements further (the gateway's rights).
func Parse(q string, params map[string]any) (*influxql.Query, Class, error) {
	p := influxql.NewParser(strings.NewReader(q))
	if params != nil {
		p.SetParams(params)
	}
	parsed, err := p.ParseQuery()
	if err != nil {
		return nil, Read, &ParseError{err}
	}
	class := Read
	for _, st := range parsed.Statements {
		c, err := classifyStatement(st)
		if err != nil {
			return nil, Read, err
		}
		if c == Change {
			class = Change
		}
	}
	return parsed, class, nil
}

func classifyStatement(st influxql.Statement) (Class, error) {
	switch s := st.(type) {
	case *influxql.SelectStatement:
		if s.Target != nil {
			return Change, nil // SELECT ... INTO writes on every backend
		}
		return Read, nil
	case *influxql.ExplainStatement,
		*influxql.ShowContinuousQueriesStatement, *influxql.ShowDatabasesStatement,
		*influxql.ShowDiagnosticsStatement, *influxql.ShowFieldKeyCardinalityStatement,
		*influxql.ShowFieldKeysStatement, *influxql.ShowGrantsForUserStatement,
		*influxql.ShowMeasurementCardinalityStatement, *influxql.ShowMeasurementsStatement,
		*influxql.ShowQueriesStatement, *influxql.ShowRetentionPoliciesStatement,
		*influxql.ShowSeriesCardinalityStatement, *influxql.ShowSeriesStatement,
		*influxql.ShowShardGroupsStatement, *influxql.ShowShardsStatement,
		*influxql.ShowStatsStatement, *influxql.ShowSubscriptionsStatement,
		*influxql.ShowTagKeyCardinalityStatement, *influxql.ShowTagKeysStatement,
		*influxql.ShowTagValuesCardinalityStatement, *influxql.ShowTagValuesStatement,
		*influxql.ShowUsersStatement:
		return Read, nil
	case *influxql.KillQueryStatement:
		// Query ids belong to one server: routed like a read (use the
		// "first" strategy, or the backend directly, to reach the right one).
		return Read, nil
	case *influxql.DropShardStatement:
		return Read, &RefusedError{Msg: fmt.Sprintf(
			"%s is not relayed: shard ids differ between servers; run it on each backend directly", s.String())}
	}
	return Change, nil
}

// Statements returns how many statements q holds.
func Statements(q string) (int, error) {
	parsed, err := influxql.ParseQuery(q)
	if err != nil {
		return 0, err
	}
	return len(parsed.Statements), nil
}
