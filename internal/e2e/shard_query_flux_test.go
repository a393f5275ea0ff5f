package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/shard"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// Flux on a listener sharded by tag: routed to the shard its filters pin
// (r._measurement and r.customer), refused with the rule otherwise. Shard
// s1's influxd has Flux; s2's does not (starting Flux costs seconds), so
// a query routed to s2 gets that server's own answer.
func TestShardedFluxRoutedOrRefused(t *testing.T) {
	t.Parallel()
	flux := testinflux.Start(t, testinflux.Options{Version: testinflux.V1810, Flux: true})
	plain := testinflux.Start(t, testinflux.Options{Version: testinflux.V1810})
	for _, s := range []*testinflux.Server{flux, plain} {
		s.CreateDatabase(t, "db")
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.WriteTimeout = 5 * time.Second
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.HTTP = []config.HTTPConfig{{Name: "http", BindAddr: "127.0.0.1:0", ShardKey: "tag:customer", Shards: []config.ShardConfig{
		{Name: "s1", Outputs: []config.OutputConfig{output("s1a", flux.WriteURL())}},
		{Name: "s2", Outputs: []config.OutputConfig{output("s2a", plain.WriteURL())}},
	}}}
	cfg.ApplyDefaults()
	g := startGate(t, &cfg)

	owners := shard.NewPlacement([]string{"s1", "s2"})
	on := map[string][]string{}
	var body strings.Builder
	now := time.Now().Add(-time.Minute).UnixNano()
	for i := 0; i < 20; i++ {
		c := fmt.Sprintf("c%02d", i)
		o := owners.Owner(shard.AppendKey(nil, "db", []byte("orders"), []byte(c), true))
		on[o] = append(on[o], c)
		fmt.Fprintf(&body, "orders,customer=%s amount=%d %d\n", c, 100+i, now+int64(i))
	}
	if len(on["s1"]) < 2 || len(on["s2"]) == 0 {
		t.Fatalf("customers by shard: %v", on)
	}
	g.mustWrite(t, "db=db", body.String())
	g.waitCaughtUp(t, 30*time.Second)
	c1, c1b, c2 := on["s1"][0], on["s1"][1], on["s2"][0]

	post := func(contentType, q string) response {
		t.Helper()
		return do(t, http.MethodPost, g.url+"/api/v2/query", q, "Content-Type", contentType, "Accept", "application/csv")
	}
	pipeline := `from(bucket: "db/autogen") |> range(start: -1h) |> filter(fn: (r) => %s) |> keep(columns: ["_value", "customer"])`

	// Pinned to s1: its answer, with the data of the customer.
	r := post("application/vnd.flux", fmt.Sprintf(pipeline, fmt.Sprintf(`r._measurement == "orders" and r.customer == %q`, c1)))
	if r.Status != http.StatusOK || r.Header.Get("X-Influxgate-Backend") != "s1a" || !strings.Contains(r.Body, c1) {
		t.Errorf("pinned to s1: %d from %q: %s", r.Status, r.Header.Get("X-Influxgate-Backend"), r.Body)
	}
	// The JSON form, r["..."], and an "or" of customers of one shard.
	q, _ := json.Marshal(map[string]string{"type": "flux", "query": fmt.Sprintf(pipeline,
		fmt.Sprintf(`r["_measurement"] == "orders" and (r["customer"] == %q or r.customer == %q)`, c1, c1b))})
	r = post("application/json", string(q))
	if r.Status != http.StatusOK || !strings.Contains(r.Body, c1) || !strings.Contains(r.Body, c1b) {
		t.Errorf("JSON, two customers of s1: %d %s", r.Status, r.Body)
	}
	// Pinned to s2: sent there, whatever it answers.
	r = post("application/vnd.flux", fmt.Sprintf(pipeline, fmt.Sprintf(`r._measurement == "orders" and r.customer == %q`, c2)))
	if r.Header.Get("X-Influxgate-Backend") != "s2a" {
		t.Errorf("pinned to s2: answered by %q: %d %s", r.Header.Get("X-Influxgate-Backend"), r.Status, r.Body)
	}
	// Refused, with what pins a shard.
	for _, c := range []struct{ q, why string }{
		{fmt.Sprintf(pipeline, `r._measurement == "orders"`), "does not filter r.customer"},
		{fmt.Sprintf(pipeline, fmt.Sprintf(`r._measurement == "orders" and (r.customer == %q or r.customer == %q)`, c1, c2)), "on shards s1, s2"},
		{fmt.Sprintf(pipeline, fmt.Sprintf(`r._measurement == "orders" or r.customer == %q`, c1)), "does not filter r._measurement"},
		{`buckets()`, "buckets()"},
		{`from(bucket: "db") |> range(start: -1h)`, "does not filter r._measurement"},
	} {
		r := post("application/vnd.flux", c.q)
		if r.Status != http.StatusBadRequest || !strings.Contains(r.errText(), c.why) || !strings.Contains(r.errText(), "from(bucket") {
			t.Errorf("%s: %d %s; want a 400 that says %q", c.q, r.Status, r.Body, c.why)
		}
	}
}
