package e2e

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// Issue 16 on a sharded listener: remote writes are split by owner like
// any write (each series on its owner's replicas only, both replicas
// identical), and remote reads are exact: a query whose matchers pin the
// key is answered by its shard byte for byte as one server holding
// everything answers it; any other is answered with the same series and
// samples, merged from every shard.
func TestPromShardedWriteAndRead(t *testing.T) {
	for _, key := range []string{"measurement", "tag:instance"} {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			c := newShardedConfig(t, key, 2, "prom")
			ref := testinflux.Start(t, testinflux.Options{})
			ref.CreateDatabase(t, "prom")
			g := startGate(t, c.cfg)
			req := &prompb.WriteRequest{}
			for m := range 12 {
				for inst := range 4 {
					req.Timeseries = append(req.Timeseries, promSeries(
						[]string{"__name__", "metric_" + strconv.Itoa(m), "instance", "host" + strconv.Itoa(inst), "job", "j"},
						sample(1000, float64(m*10+inst)), sample(2000, float64(m*10+inst)+0.5)))
				}
			}
			body := string(promBody(t, req))
			for _, url := range []string{g.url, ref.URL()} {
				if r := do(t, http.MethodPost, url+"/api/v1/prom/write?db=prom", body); r.Status != http.StatusNoContent {
					t.Fatalf("write to %s: %d %s", url, r.Status, r.Body)
				}
			}
			g.waitCaughtUp(t, 30*time.Second)

			// Every point on its owner, the shards together the reference.
			var all []string
			for i, rs := range c.shards {
				got := identical(t, "prom", rs...)
				for _, p := range got {
					m, _, _ := strings.Cut(p, ",")
					tag := ""
					if key != "measurement" {
						_, rest, _ := strings.Cut(p, ",instance=")
						tag, _, _ = strings.Cut(rest, ",")
					}
					if o := c.owner("prom", m, tag); o != i {
						t.Errorf("%s on shard %d, owner %d", p, i+1, o+1)
					}
				}
				all = append(all, got...)
			}
			slices.Sort(all)
			if want := ref.Points(t, "prom"); !slices.Equal(all, want) {
				t.Fatalf("the shards hold %d points, the reference %d", len(all), len(want))
			}

			eq := func(n, v string) *prompb.LabelMatcher {
				return &prompb.LabelMatcher{Type: prompb.LabelMatcher_EQ, Name: n, Value: v}
			}
			type readCase struct {
				name     string
				body     []byte
				sameByte bool // one shard answers: the bytes are the reference's
				series   int
			}
			// A query pinned to each shard in turn.
			var cases []readCase
			for i := range c.shards {
				for m := range 12 {
					metric, tag := "metric_"+strconv.Itoa(m), "host2"
					if key == "measurement" {
						tag = ""
					}
					if c.owner("prom", metric, tag) != i {
						continue
					}
					pinned := []*prompb.LabelMatcher{eq("__name__", metric)}
					series := 4
					if tag != "" {
						pinned, series = append(pinned, eq("instance", tag)), 1
					}
					cases = append(cases, readCase{"pinned to shard " + strconv.Itoa(i+1), promReadBody(t, 0, 10_000, pinned...), true, series})
					break
				}
			}
			if len(cases) != len(c.shards) {
				t.Fatalf("no metric pins a read to every shard: %d cases", len(cases))
			}
			cases = append(cases, []readCase{
				{"regex across shards", promReadBody(t, 0, 10_000, &prompb.LabelMatcher{Type: prompb.LabelMatcher_RE, Name: "__name__", Value: "metric_1.*"}), false, 3 * 4},
				{"by label across shards", promReadBody(t, 0, 10_000, eq("instance", "host1"), eq("job", "j")), false, 12},
				{"no such metric", promReadBody(t, 0, 10_000, eq("__name__", "none")), true, 0},
				{"not snappy", []byte("hello"), true, -1},
			}...)
			for _, tc := range cases {
				wantStatus, wantType, want := promRead(t, ref.URL()+"/api/v1/prom/read?db=prom", tc.body)
				gotStatus, gotType, got := promRead(t, g.url+"/api/v1/prom/read?db=prom", tc.body)
				if gotStatus != wantStatus || gotType != wantType {
					t.Errorf("%s: influxgate %d %s %s, influxd %d %s %s", tc.name, gotStatus, gotType, short(got), wantStatus, wantType, short(want))
					continue
				}
				if tc.sameByte && !bytes.Equal(got, want) {
					t.Errorf("%s: influxgate %s, influxd %s", tc.name, short(got), short(want))
				}
				if wantStatus != http.StatusOK {
					if tc.series >= 0 {
						t.Errorf("%s: influxd answered %d %s", tc.name, wantStatus, want)
					}
					continue
				}
				wantSeries, gotSeries := promDecode(t, want), promDecode(t, got)
				slices.Sort(wantSeries)
				slices.Sort(gotSeries)
				if !slices.Equal(gotSeries, wantSeries) || len(wantSeries) != tc.series {
					t.Errorf("%s: influxgate %d series %v, influxd %d %v (the case expects %d)", tc.name,
						len(gotSeries), gotSeries, len(wantSeries), wantSeries, tc.series)
				}
			}
		})
	}
}
