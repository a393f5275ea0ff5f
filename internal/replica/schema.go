package replica

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
)

// retentionPolicy is one row of SHOW RETENTION POLICIES.
type retentionPolicy struct {
	Name          string
	Duration      time.Duration // 0 is infinite
	ShardDuration time.Duration
	Replication   int
	Default       bool
}

// databases lists the backend's databases, without _internal (each server
// keeps its own monitoring data there).
func (s *server) databases(ctx context.Context) ([]string, error) {
	res, err := s.query(ctx, "", "SHOW DATABASES")
	if err != nil {
		return nil, err
	}
	var dbs []string
	for _, name := range firstColumn(res) {
		if name != "_internal" {
			dbs = append(dbs, name)
		}
	}
	slices.Sort(dbs)
	return dbs, nil
}

// retentionPolicies lists db's retention policies.
func (s *server) retentionPolicies(ctx context.Context, db string) ([]retentionPolicy, error) {
	q := "SHOW RETENTION POLICIES ON " + quoteIdent(db)
	res, err := s.query(ctx, db, q)
	if err != nil {
		return nil, err
	}
	var rps []retentionPolicy
	for _, se := range res.Series {
		col := func(name string) int { return slices.Index(se.Columns, name) }
		iName, iDur, iShard, iRepl, iDef := col("name"), col("duration"), col("shardGroupDuration"), col("replicaN"), col("default")
		if iName < 0 || iDur < 0 || iShard < 0 || iRepl < 0 || iDef < 0 {
			return nil, s.badAnswer("query "+q, fmt.Errorf("unexpected columns %v", se.Columns))
		}
		for _, row := range se.Values {
			var rp retentionPolicy
			rp.Name, _ = row[iName].(string)
			rp.Default, _ = row[iDef].(bool)
			if n, ok := row[iRepl].(json.Number); ok {
				r, _ := n.Int64()
				rp.Replication = int(r)
			}
			var err error
			if rp.Duration, err = parseDuration(row[iDur]); err == nil {
				rp.ShardDuration, err = parseDuration(row[iShard])
			}
			if err != nil {
				return nil, s.badAnswer("query "+q, err)
			}
			rps = append(rps, rp)
		}
	}
	return rps, nil
}

// measurements lists db's measurements (in every retention policy: InfluxDB
// keeps one index per database).
func (s *server) measurements(ctx context.Context, db string) ([]string, error) {
	res, err := s.query(ctx, db, "SHOW MEASUREMENTS ON "+quoteIdent(db))
	if err != nil {
		return nil, err
	}
	return firstColumn(res), nil
}

// fieldTypes maps each field of rp.m to its types (more than one only after
// a type conflict between shards). SHOW FIELD KEYS reads the shards of the
// named retention policy, so an empty map means rp holds no data of m.
func (s *server) fieldTypes(ctx context.Context, db, rp, m string) (map[string][]string, error) {
	res, err := s.query(ctx, db, "SHOW FIELD KEYS ON "+quoteIdent(db)+" FROM "+source(rp, m))
	if err != nil {
		return nil, err
	}
	types := map[string][]string{}
	for _, se := range res.Series {
		for _, row := range se.Values {
			if len(row) < 2 {
				continue
			}
			k, _ := row[0].(string)
			t, _ := row[1].(string)
			if !slices.Contains(types[k], t) {
				types[k] = append(types[k], t)
			}
		}
	}
	return types, nil
}

// timeRange returns the times of the first and the last point of rp.m
// (of its series that match cond, when cond is not ""); ok is false when
// there is none. Two LIMIT 1 queries read one block per series at each end
// instead of the whole measurement.
func (s *server) timeRange(ctx context.Context, db, rp, m, cond string) (first, last int64, ok bool, err error) {
	filter := ""
	if cond != "" {
		filter = " WHERE " + cond
	}
	edge := func(order string) (int64, bool, error) {
		res, err := s.query(ctx, db, "SELECT * FROM "+source(rp, m)+filter+" ORDER BY time "+order+" LIMIT 1")
		if isNotFound(err) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		for _, se := range res.Series {
			for _, row := range se.Values {
				if t, err := rowTime(row); err == nil {
					return t, true, nil
				}
			}
		}
		return 0, false, nil
	}
	if first, ok, err = edge("ASC"); err != nil || !ok {
		return 0, 0, ok, err
	}
	last, ok, err = edge("DESC")
	return first, last, ok, err
}

// firstColumn collects the string values of every row's first column.
func firstColumn(res backend.QueryResult) []string {
	var out []string
	for _, se := range res.Series {
		for _, row := range se.Values {
			if len(row) > 0 {
				if v, ok := row[0].(string); ok {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

func rowTime(row []any) (int64, error) {
	if len(row) == 0 {
		return 0, fmt.Errorf("empty row")
	}
	n, ok := row[0].(json.Number)
	if !ok {
		return 0, fmt.Errorf("time %v is not a number", row[0])
	}
	return n.Int64()
}

func parseDuration(v any) (time.Duration, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("duration %v is not a string", v)
	}
	return time.ParseDuration(s)
}

// quoteIdent quotes an InfluxQL identifier.
func quoteIdent(name string) string {
	return `"` + identEscaper.Replace(name) + `"`
}

var identEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// source is the FROM clause of rp.m.
func source(rp, m string) string { return quoteIdent(rp) + "." + quoteIdent(m) }

// durationLit writes d as an InfluxQL duration literal in the largest unit
// that holds it exactly (InfluxQL has no compound literals like 1h30m).
func durationLit(d time.Duration) string {
	units := []struct {
		d    time.Duration
		unit string
	}{{7 * 24 * time.Hour, "w"}, {24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"},
		{time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "u"}}
	for _, u := range units {
		if d%u.d == 0 {
			return fmt.Sprintf("%d%s", d/u.d, u.unit)
		}
	}
	return fmt.Sprintf("%dns", int64(d))
}

// rpDuration writes a retention duration (0 is infinite).
func rpDuration(d time.Duration) string {
	if d == 0 {
		return "INF"
	}
	return durationLit(d)
}

// timeCond is the WHERE clause selecting [from, to).
func timeCond(from, to int64) string {
	return fmt.Sprintf("time >= %d AND time < %d", from, to)
}

// where is the WHERE clause selecting the series that match cond ("": all)
// in w.
func where(cond string, w span) string {
	if cond == "" {
		return timeCond(w.from, w.to)
	}
	return cond + " AND " + timeCond(w.from, w.to)
}

// InfluxDB's bounds for timestamps.
const (
	minTime = math.MinInt64 + 2
	maxTime = math.MaxInt64 - 1
)

// continuousQueries maps the names of db's continuous queries to their
// definitions (CREATE CONTINUOUS QUERY ... END, as SHOW CONTINUOUS QUERIES
// prints them).
func (s *server) continuousQueries(ctx context.Context, db string) (map[string]string, error) {
	res, err := s.query(ctx, "", "SHOW CONTINUOUS QUERIES")
	if err != nil {
		return nil, err
	}
	cqs := map[string]string{}
	for _, se := range res.Series {
		if se.Name != db {
			continue
		}
		for _, row := range se.Values {
			if len(row) < 2 {
				continue
			}
			name, _ := row[0].(string)
			q, _ := row[1].(string)
			if name != "" && q != "" {
				cqs[name] = q
			}
		}
	}
	return cqs, nil
}

// copyCQs creates on dst the continuous queries of db that src has and
// dst lacks (by name), with src's definitions.
func copyCQs(ctx context.Context, src, dst *server, db string, exec func(q string) error) error {
	want, err := src.continuousQueries(ctx, db)
	if err != nil || len(want) == 0 {
		return err
	}
	have, err := dst.continuousQueries(ctx, db)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if _, ok := have[name]; !ok {
			if err := exec(want[name]); err != nil {
				return err
			}
		}
	}
	return nil
}
