package query

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/influxgate/influxgate/internal/shard"
)

func promReadRequest(t *testing.T, queries ...*prompb.Query) []byte {
	t.Helper()
	b, err := (&prompb.ReadRequest{Queries: queries}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

func eqM(n, v string) *prompb.LabelMatcher {
	return &prompb.LabelMatcher{Type: prompb.LabelMatcher_EQ, Name: n, Value: v}
}

func promTestSet(t *testing.T, key string, route func(names []string) *shard.Route) *shard.Set {
	t.Helper()
	names := []string{"s1", "s2", "s3"}
	var shards []*shard.Shard
	for _, n := range names {
		shards = append(shards, &shard.Shard{Name: n})
	}
	s, err := shard.NewSet(key, shards, route(names))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPlanPromRead(t *testing.T) {
	still := func(names []string) *shard.Route { return shard.NewRoute(shard.NewPlacement(names)) }
	byName := promTestSet(t, "measurement", still)
	byTag := promTestSet(t, "tag:instance", still)
	owner := func(s *shard.Set, m, v string) string { return s.Route().ReadOwner(s.Key("db", m, v)) }
	cases := []struct {
		name   string
		set    *shard.Set
		body   []byte
		one    string
		fanOut bool
	}{
		{"name pins a measurement", byName, promReadRequest(t, &prompb.Query{Matchers: []*prompb.LabelMatcher{eqM("job", "x"), eqM("__name__", "up")}}),
			owner(byName, "up", ""), false},
		{"regex name fans out", byName, promReadRequest(t, &prompb.Query{Matchers: []*prompb.LabelMatcher{
			{Type: prompb.LabelMatcher_RE, Name: "__name__", Value: "up"}}}), "", true},
		{"a backslash in the name fans out", byName, promReadRequest(t, &prompb.Query{Matchers: []*prompb.LabelMatcher{eqM("__name__", `a\,b`)}}), "", true},
		{"name and tag pin a tag key", byTag, promReadRequest(t, &prompb.Query{Matchers: []*prompb.LabelMatcher{eqM("__name__", "up"), eqM("instance", "h1")}}),
			owner(byTag, "up", "h1"), false},
		{"an empty tag value is a key too", byTag, promReadRequest(t, &prompb.Query{Matchers: []*prompb.LabelMatcher{eqM("__name__", "up"), eqM("instance", "")}}),
			owner(byTag, "up", ""), false},
		{"name without the tag fans out", byTag, promReadRequest(t, &prompb.Query{Matchers: []*prompb.LabelMatcher{eqM("__name__", "up")}}), "", true},
		{"not snappy: the first shard refuses it", byName, []byte("x"), "s1", false},
		{"two queries: the first shard refuses them", byName, promReadRequest(t, &prompb.Query{}, &prompb.Query{}), "s1", false},
	}
	for _, tc := range cases {
		one, fanOut := planPromRead(tc.set, tc.set.Route(), "db", tc.body)
		if one != tc.one || fanOut != tc.fanOut {
			t.Errorf("%s: %q %v, want %q %v", tc.name, one, fanOut, tc.one, tc.fanOut)
		}
	}
}

func answerOf(t *testing.T, series ...*prompb.TimeSeries) *capturedAnswer {
	t.Helper()
	b, err := (&prompb.ReadResponse{Results: []*prompb.QueryResult{{Timeseries: series}}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	a := &capturedAnswer{header: make(http.Header), status: http.StatusOK}
	a.body.Write(snappy.Encode(nil, b))
	return a
}

func seriesOf(name, instance string) *prompb.TimeSeries {
	return &prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: name}, {Name: "instance", Value: instance}},
		Samples: []prompb.Sample{{Value: 1, Timestamp: 1}}}
}

// Merged answers hold every shard's series, sorted, except a shard's
// strays while a rebalance moves their key: a key not yet moved is read
// from its old owner only.
func TestMergePromAnswers(t *testing.T) {
	var moved string
	set := promTestSet(t, "measurement", func(names []string) *shard.Route {
		from := shard.NewPlacement(names[:2])
		to := shard.NewPlacement(names)
		return shard.NewMoveRoute(from, to, map[string]bool{}, nil)
	})
	route := set.Route()
	from, _ := route.From()
	// A metric whose owner changes: its new owner holds copies (strays)
	// until the move is done.
	for i := 0; moved == ""; i++ {
		m := "m" + string(rune('a'+i))
		k := set.Key("db", m, "")
		if from.Owner(k) != route.To().Owner(k) {
			moved = m
		}
	}
	k := set.Key("db", moved, "")
	oldOwner, newOwner := from.Owner(k), route.To().Owner(k)
	shards := set.Shards()
	answers := make([]*capturedAnswer, len(shards))
	for i, sh := range shards {
		var ts []*prompb.TimeSeries
		switch sh.Name {
		case oldOwner, newOwner:
			ts = append(ts, seriesOf(moved, "h1"))
		}
		ts = append(ts, seriesOf("z_"+sh.Name, "h"), &prompb.TimeSeries{Labels: []prompb.Label{{Name: "job", Value: sh.Name}}})
		answers[i] = answerOf(t, ts...)
	}
	merged, failed := mergePromAnswers(shards, route, "db", set, answers)
	if failed != nil {
		t.Fatalf("failed: %d %s", failed.status, failed.body.Bytes())
	}
	var got []string
	for _, ts := range merged.Results[0].Timeseries {
		var s []string
		for _, l := range ts.Labels {
			s = append(s, l.Name+"="+l.Value)
		}
		got = append(got, strings.Join(s, ","))
	}
	want := []string{"__name__=" + moved + ",instance=h1", "__name__=z_s1,instance=h", "__name__=z_s2,instance=h", "__name__=z_s3,instance=h",
		"job=s1", "job=s2", "job=s3"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("merged %v, want %v", got, want)
	}

	// A shard's refusal, or a shard without a backend to read from, is
	// the answer.
	answers[1] = &capturedAnswer{header: make(http.Header), status: http.StatusServiceUnavailable}
	if _, failed := mergePromAnswers(shards, route, "db", set, answers); failed == nil || failed.status != http.StatusServiceUnavailable {
		t.Errorf("a shard's 503 is not the answer: %+v", failed)
	}
	answers[1] = &capturedAnswer{header: make(http.Header), status: http.StatusOK, over: true}
	if _, failed := mergePromAnswers(shards, route, "db", set, answers); failed == nil || failed.status != http.StatusBadRequest ||
		!strings.Contains(failed.body.String(), "too much to merge") {
		t.Errorf("answers over the budget: %+v", failed)
	}
}

// Like InfluxDB's router: POST only, OPTIONS included.
func TestPromReadMethods(t *testing.T) {
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodOptions} {
		rr := httptest.NewRecorder()
		if allowPromRead(rr, httptest.NewRequest(m, "/api/v1/prom/read?db=d", nil)) ||
			rr.Code != http.StatusMethodNotAllowed || rr.Header().Get("Allow") != "POST" {
			t.Errorf("%s: %d, Allow %q", m, rr.Code, rr.Header().Get("Allow"))
		}
	}
}
