package query

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// liveRelay reports its one backend caught up; reads need nothing else
// of a shard's relay.
type liveRelay struct{ name string }

func (l liveRelay) Freshness() []relay.Freshness {
	return []relay.Freshness{{Name: l.name, State: relay.StateLive}}
}
func (liveRelay) Append(*record.Record) (relay.Ticket, error) {
	return relay.Ticket{}, fmt.Errorf("not for writes")
}
func (liveRelay) Await(context.Context, relay.Ticket, relay.Consistency) relay.Answer {
	return relay.Answer{}
}

// A merge holds at most MaxMergeBytes of shard answers: a query whose
// answers are larger is refused with a 400 that says to narrow it.
func TestShardedMergeIsBounded(t *testing.T) {
	set := testSet(t, "tag:c", nil)
	opts := ShardedOptions{Set: set, MaxMergeBytes: 4 << 10, Query: config.QueryConfig{Strategy: "first", MaxLag: time.Second}}
	for i, name := range []string{"s1", "s2"} {
		s := testinflux.Start(t, testinflux.Options{})
		s.CreateDatabase(t, "db")
		var body strings.Builder
		for j := 0; j < 100; j++ {
			fmt.Fprintf(&body, "m,c=x%d v=%d %d\n", j, j, int64(i*1000+j)*1e9)
		}
		s.Write(t, "db", "", body.String())
		out := fmt.Sprintf("%sa", name)
		opts.Shards = append(opts.Shards, ShardReplicas{Name: name, Relay: liveRelay{out},
			Outputs: []config.OutputConfig{{Name: out, Location: config.Location(s.WriteURL()), Timeout: 5 * time.Second}}})
	}
	h, err := NewSharded(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ask := func(q string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(url.Values{"q": {q}, "db": {"db"}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		h.ServeQuery(w, r)
		return w
	}
	if w := ask("SELECT count(v) FROM m"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"count"],"values":[["1970-01-01T00:00:00Z",200]]`) {
		t.Errorf("a small merge: %d %s", w.Code, w.Body)
	}
	w := ask("SELECT * FROM m")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "exceed the 4 KiB influxgate merges in memory: narrow it") {
		t.Errorf("a merge over the bound: %d %s", w.Code, w.Body)
	}
}
