package bench

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/influxgate/influxgate/internal/shard"
)

// benchDB is the database every load writes to.
const benchDB = "bench"

// runSinkSet is the sinks of one run and how the relay is told about them.
type runSinkSet struct {
	sinks []*Sink
	names []string
	down  []bool // down for the whole load: expected to receive nothing
	shard []int  // each sink's shard (index into rc.Shards); 0 when not sharded
	rc    RelayConfig
}

// startRunSinks starts the sinks sc needs: two (the second slow or down as
// sc says), or two per shard for a sharded scenario.
func startRunSinks(sc Scenario) (*runSinkSet, error) {
	set := &runSinkSet{}
	add := func(name string, opts SinkOptions, shardIdx int) (Output, error) {
		s, err := StartSink("127.0.0.1:0", opts)
		if err != nil {
			return Output{}, err
		}
		set.sinks = append(set.sinks, s)
		set.names = append(set.names, name)
		set.down = append(set.down, opts.Down)
		set.shard = append(set.shard, shardIdx)
		return Output{Name: name, Addr: s.Addr()}, nil
	}
	if sc.Shards == 0 {
		a, err := add("sink-1", SinkOptions{}, 0)
		if err != nil {
			return set, err
		}
		b, err := add("sink-2", SinkOptions{Delay: sc.Slow, Down: sc.Down}, 0)
		if err != nil {
			return set, err
		}
		set.rc.Outputs = []Output{a, b}
		return set, nil
	}
	set.rc.ShardKey = "measurement"
	for j := range sc.Shards {
		so := ShardOutputs{Name: fmt.Sprintf("s%d", j+1)}
		for _, replica := range []string{"a", "b"} {
			o, err := add(so.Name+"-"+replica, SinkOptions{}, j)
			if err != nil {
				return set, err
			}
			so.Outputs = append(so.Outputs, o)
		}
		set.rc.Shards = append(set.rc.Shards, so)
	}
	return set, nil
}

func (set *runSinkSet) close() {
	for _, s := range set.sinks {
		s.Close()
	}
}

// expected returns what each sink must receive after a load: every
// acknowledged line, or with shards the acknowledged lines its shard owns,
// and 0 for a sink that was down.
func (set *runSinkSet) expected(res LoadResult, bodies []Body) ([]int64, error) {
	want := make([]int64, len(set.sinks))
	var perShard []int64
	if len(set.rc.Shards) > 0 {
		owned, err := shardLines(set.rc.Shards, bodies)
		if err != nil {
			return nil, err
		}
		perShard = make([]int64, len(set.rc.Shards))
		for b, n := range res.BodyCounts {
			for j := range perShard {
				perShard[j] += n * int64(owned[b][j])
			}
		}
	}
	for i := range set.sinks {
		switch {
		case set.down[i]:
		case perShard != nil:
			want[i] = perShard[set.shard[i]]
		default:
			want[i] = res.TotalLines
		}
	}
	return want, nil
}

// shardLines counts, for each body, the lines each shard owns under
// influxgate's placement (internal/shard) with shard-key = "measurement".
// The harness's job here is to check delivery, not the placement: the
// e2e tests check that the owner function puts every point where queries
// look for it.
func shardLines(shards []ShardOutputs, bodies []Body) ([][]int, error) {
	names := make([]string, len(shards))
	index := map[string]int{}
	for j, s := range shards {
		names[j] = s.Name
		index[s.Name] = j
	}
	place := shard.NewPlacement(names)
	owner := map[string]int{} // measurement → shard index
	out := make([][]int, len(bodies))
	for b, body := range bodies {
		if body.stamps == nil {
			return nil, fmt.Errorf("body %d is compressed: cannot split it by shard", b)
		}
		out[b] = make([]int, len(shards))
		for line := range bytes.Lines(body.Data) {
			// Generated lines have no escapes: the measurement ends at the
			// first ',' (or ' ' when a line has no tags).
			end := bytes.IndexAny(line, ", ")
			if end < 0 {
				return nil, fmt.Errorf("body %d: line without a measurement: %q", b, line)
			}
			m := string(line[:end])
			j, ok := owner[m]
			if !ok {
				j = index[place.Owner(shard.AppendKey(nil, benchDB, []byte(m), nil, false))]
				owner[m] = j
			}
			out[b][j]++
		}
	}
	return out, nil
}

// shardSpread describes how the delivered lines fell on the shards, for
// the notes: each shard's share of the acknowledged lines.
func (set *runSinkSet) shardSpread(want []int64) string {
	if len(set.rc.Shards) == 0 {
		return ""
	}
	var total int64
	seen := map[int]bool{}
	for i, w := range want {
		if !seen[set.shard[i]] {
			seen[set.shard[i]] = true
			total += w
		}
	}
	parts := make([]string, 0, len(set.rc.Shards))
	seen = map[int]bool{}
	for i, w := range want {
		if j := set.shard[i]; !seen[j] {
			seen[j] = true
			share := 0.0
			if total > 0 {
				share = 100 * float64(w) / float64(total)
			}
			parts = append(parts, fmt.Sprintf("%s %.0f%%", set.rc.Shards[j].Name, share))
		}
	}
	return "lines per shard: " + strings.Join(parts, ", ")
}
