package query

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/influxgate/influxgate/internal/influxerr"
	"github.com/influxgate/influxgate/internal/shard"
)

// Prometheus remote read on a sharded listener. A series lives on one
// shard (its owner; while a rebalance moves its key, the old owner serves
// it), so the answer is exact either way:
//   - a query whose matchers pin the key — `__name__="m"` with shard-key =
//     "measurement", and also `K="v"` with "tag:K" — goes to that shard's
//     replicas and its answer is passed on byte for byte;
//   - any other goes to every shard, and the answer is the shards' series
//     (none is on two shards, or is left out as a stray of the shard that
//     does not serve it), sorted by labels and encoded again: the same
//     series and samples as one server holding everything, not the same
//     bytes.
// A request InfluxDB refuses (not snappy, not a ReadRequest, not exactly
// one query) goes to one shard, whose answer is InfluxDB's refusal.

// maxPromMerge bounds the shard answers one merged remote read holds.
const maxPromMerge = 64 << 20

// forwardPromRead reads from one shard's replica set: the read routing
// every read has (candidates by freshness, fallback on failures).
func (rs *replicas) forwardPromRead(w http.ResponseWriter, r *http.Request, body []byte, start time.Time) {
	rs.forward(w, r, "prom_read", body, start)
}

// shardReplicas returns the replica set of the named shard.
func (h *ShardedHandler) shardReplicas(name string) *replicas {
	for _, rs := range h.shards {
		if rs.shard == name {
			return rs
		}
	}
	return nil
}

// ServePromRead handles /api/v1/prom/read on a sharded listener.
func (h *ShardedHandler) ServePromRead(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if !allowPromRead(w, r) {
		return
	}
	body, status, msg := readPromBody(r)
	if status != 0 {
		influxerr.Write(w, status, msg)
		h.opts.Metrics.observe("prom_read", "error", status, "", start)
		return
	}
	set := h.opts.Set
	route := set.Route()
	shards := set.Shards()
	one, fanOut := planPromRead(set, route, r.URL.Query().Get("db"), body)
	if !fanOut {
		tw := &teeWriter{ResponseWriter: w, limit: maxCountedAnswer}
		h.shardReplicas(one).forwardPromRead(tw, r, body, start)
		h.opts.Metrics.promRead(tw)
		return
	}
	answers := make([]*capturedAnswer, len(shards))
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var budget sync.Mutex
	left := maxPromMerge
	var wg sync.WaitGroup
	for i, sh := range shards {
		answers[i] = &capturedAnswer{header: make(http.Header), take: func(n int) bool {
			budget.Lock()
			defer budget.Unlock()
			if n > left {
				cancel()
				return false
			}
			left -= n
			return true
		}}
		wg.Go(func() {
			h.shardReplicas(sh.Name).forwardPromRead(answers[i], r.WithContext(ctx), body, start)
		})
	}
	wg.Wait()
	if r.Context().Err() != nil {
		return // the client went away
	}
	merged, failed := mergePromAnswers(shards, route, r.URL.Query().Get("db"), set, answers)
	if failed != nil {
		copyHeader(w.Header(), failed.header)
		w.WriteHeader(failed.status)
		_, _ = w.Write(failed.body.Bytes())
		return
	}
	h.opts.Metrics.promMerged(merged)
	out, err := merged.Marshal()
	if err != nil {
		influxerr.Write(w, http.StatusInternalServerError, err.Error())
		return
	}
	// As InfluxDB answers; each shard's read was counted as it was made.
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Content-Encoding", "snappy")
	_, _ = w.Write(snappy.Encode(nil, out))
}

// planPromRead returns the one shard a remote read goes to, or fanOut
// when its series may be on every shard. A body that is not one query
// goes to the first shard, for InfluxDB's refusal.
func planPromRead(set *shard.Set, route *shard.Route, db string, body []byte) (one string, fanOut bool) {
	first := set.Shards()[0].Name
	plain, err := snappy.Decode(nil, body)
	if err != nil {
		return first, false
	}
	var req prompb.ReadRequest
	if err := req.Unmarshal(plain); err != nil || len(req.Queries) != 1 || req.Queries[0] == nil {
		return first, false
	}
	measurement, tagValue, ok := pinnedKey(req.Queries[0].Matchers, set.ByTag())
	if !ok {
		return "", true
	}
	return route.ReadOwner(set.Key(db, measurement, tagValue)), false
}

// pinnedKey returns the measurement and shard tag value every series a
// query can match has, when its equality matchers fix them. A metric name
// with a backslash is not pinned: InfluxDB stores it unescaped, so the
// name a query gives may not be the key's.
func pinnedKey(ms []*prompb.LabelMatcher, byTag string) (measurement, tagValue string, ok bool) {
	var name, tag bool
	for _, m := range ms {
		if m == nil || m.Type != prompb.LabelMatcher_EQ {
			continue
		}
		if m.Name == "__name__" && !name && m.Value != "" && !strings.Contains(m.Value, `\`) {
			measurement, name = m.Value, true
		}
		if byTag != "" && m.Name == byTag && !tag {
			tagValue, tag = m.Value, true
		}
	}
	return measurement, tagValue, name && (byTag == "" || tag)
}

// capturedAnswer keeps one shard's answer to a fanned-out read, within
// the merge budget (take).
type capturedAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
	over   bool
	take   func(n int) bool
}

func (c *capturedAnswer) Header() http.Header { return c.header }

func (c *capturedAnswer) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *capturedAnswer) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.over || !c.take(len(p)) {
		c.over = true
		return 0, errMergeBudget
	}
	return c.body.Write(p)
}

var errMergeBudget = fmt.Errorf("remote read answers over %d MiB", maxPromMerge>>20)

// mergePromAnswers joins the shards' answers into one ReadResponse, or
// returns the answer to pass on instead: the first that is not a 200
// (InfluxDB's refusal, or a shard without a backend to read from), or
// influxgate's 400 when the answers exceed the merge budget.
func mergePromAnswers(shards []*shard.Shard, route *shard.Route, db string, set *shard.Set, answers []*capturedAnswer) (*prompb.ReadResponse, *capturedAnswer) {
	for _, a := range answers {
		if a.over {
			return nil, promErrorAnswer(http.StatusBadRequest, fmt.Sprintf(
				"remote read on a sharded listener: the shards' answers exceed %d MiB, too much to merge; narrow the query (a shorter range, or a metric name, which sends it to one shard)", maxPromMerge>>20))
		}
		if a.status != http.StatusOK {
			return nil, a
		}
	}
	merged := &prompb.ReadResponse{Results: []*prompb.QueryResult{{}}}
	for i, a := range answers {
		plain, err := snappy.Decode(nil, a.body.Bytes())
		if err != nil {
			return nil, promErrorAnswer(http.StatusBadGateway, fmt.Sprintf("shard %s: remote read answer: %v", shards[i].Name, err))
		}
		var resp prompb.ReadResponse
		if err := resp.Unmarshal(plain); err != nil {
			return nil, promErrorAnswer(http.StatusBadGateway, fmt.Sprintf("shard %s: remote read answer: %v", shards[i].Name, err))
		}
		for _, res := range resp.Results {
			if res == nil {
				continue
			}
			for _, ts := range res.Timeseries {
				if ts == nil || strayPromSeries(set, route, db, shards[i].Name, ts.Labels) {
					continue
				}
				merged.Results[0].Timeseries = append(merged.Results[0].Timeseries, ts)
			}
		}
	}
	slices.SortFunc(merged.Results[0].Timeseries, func(a, b *prompb.TimeSeries) int { return compareLabels(a.Labels, b.Labels) })
	return merged, nil
}

// strayPromSeries reports whether a series a shard returned is one it
// holds but does not serve (during a rebalance): its key is known from
// its __name__ label, the metric name Prometheus's writes keep as a tag.
// A series without one (written as line protocol) is kept.
func strayPromSeries(set *shard.Set, route *shard.Route, db, shardName string, labels []prompb.Label) bool {
	if !route.Moving() {
		return false
	}
	var name, tagValue string
	found := false
	for _, l := range labels {
		switch l.Name {
		case "__name__":
			name, found = l.Value, true
		case set.ByTag():
			tagValue = l.Value
		}
	}
	return found && route.Strays(shardName, set.Key(db, name, tagValue))
}

func compareLabels(a, b []prompb.Label) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := strings.Compare(a[i].Name, b[i].Name); c != 0 {
			return c
		}
		if c := strings.Compare(a[i].Value, b[i].Value); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

func promErrorAnswer(status int, msg string) *capturedAnswer {
	a := &capturedAnswer{header: make(http.Header), status: status}
	a.header.Set("Content-Type", "application/json")
	a.header.Set("X-Influxdb-Error", influxerr.Header(msg))
	a.body.Write(influxerr.Body(msg))
	return a
}
