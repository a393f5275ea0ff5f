package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/influxdata/influxdb-client-go/v2/domain"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// requestLog is the client's own transport, noting what each write request
// carried, so the test knows the batches really went out gzipped.
type requestLog struct {
	mu     sync.Mutex
	writes []string // Content-Encoding of each POST /api/v2/write
}

func (l *requestLog) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/api/v2/write" {
		l.mu.Lock()
		l.writes = append(l.writes, r.Header.Get("Content-Encoding"))
		l.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (l *requestLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.writes
	l.writes = nil
	return w
}

// The official Go client for InfluxDB 2.x (influxdb-client-go v2) against
// influxgate in front of two influxd 1.8.10 with Flux, one addressed with
// its 1.x API and one with its 2.x API: blocking writes, batched gzip
// writes, a Flux query, Ping and Health. The servers take seconds to start
// with Flux, so the subtests share them and run in order.
func TestClientGoV2(t *testing.T) {
	t.Parallel()
	a := testinflux.Start(t, testinflux.Options{Version: testinflux.V1810, Flux: true})
	b := testinflux.Start(t, testinflux.Options{Version: testinflux.V1810, Flux: true})
	cfg := newConfig(t)
	cfg.HTTP[0].Outputs = append(cfg.HTTP[0].Outputs, output("a", a.WriteURL()), output("b", b.URL()+"/api/v2/write"))
	cfg.ApplyDefaults()
	g := startGate(t, cfg)
	for _, db := range []string{"go_blocking", "go_batched"} {
		if r := g.query(t, http.MethodPost, url.Values{"q": {"CREATE DATABASE " + db}}); r.Status != http.StatusOK {
			t.Fatalf("CREATE DATABASE %s: %d %s", db, r.Status, r.Body)
		}
	}

	reqs := &requestLog{}
	opts := influxdb2.DefaultOptions().
		SetHTTPClient(&http.Client{Transport: reqs, Timeout: 30 * time.Second}).
		SetUseGZip(true).SetBatchSize(100).SetFlushInterval(60_000).SetLogLevel(0)
	// InfluxDB 1.8 takes "user:password" (or, without auth, anything) as
	// the token; influxgate passes it on.
	client := influxdb2.NewClientWithOptions(g.url, "user:password", opts)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("blocking write", func(t *testing.T) {
		w := client.WriteAPIBlocking("influxgate", "go_blocking/autogen")
		err := w.WritePoint(ctx,
			write.NewPoint("go", map[string]string{"host": "a", "region": "eu west"},
				map[string]any{"f": 1.5, "i": int64(-7), "s": `quote " back \ slash`, "b": true},
				time.Unix(1700000000, 123456789)),
			write.NewPoint("go", map[string]string{"host": "b"}, map[string]any{"f": 2.0}, time.Unix(1700000001, 1)))
		if err != nil {
			t.Fatalf("WritePoint: %v", err)
		}
		if err := w.WriteRecord(ctx, "go,host=c f=3.25 1700000002000000002"); err != nil {
			t.Fatalf("WriteRecord: %v", err)
		}
		g.waitCaughtUp(t, 10*time.Second)
		samePoints(t, "go_blocking", []string{
			`go,host=a,region=eu\ west b=true,f=1.5,i=-7i,s="quote \" back \\ slash" 1700000000123456789`,
			`go,host=b f=2 1700000001000000001`,
			`go,host=c f=3.25 1700000002000000002`,
		}, a, b)
	})

	t.Run("batched gzip write", func(t *testing.T) {
		reqs.take()
		w := client.WriteAPI("influxgate", "go_batched")
		var mu sync.Mutex
		var failures []string
		// Record a failed batch and do not retry it: the test should fail
		// at once rather than after the client's retries.
		w.SetWriteFailedCallback(func(batch string, err influxhttp.Error, attempts uint) bool {
			mu.Lock()
			defer mu.Unlock()
			failures = append(failures, err.Error())
			return false
		})
		const n = 1000
		var want []string
		for i := range n {
			ts := time.Unix(1700000000, int64(i)*7919)
			w.WritePoint(write.NewPoint("batched", map[string]string{"shard": fmt.Sprint(i % 4)},
				map[string]any{"seq": int64(i)}, ts))
			want = append(want, fmt.Sprintf("batched,shard=%d seq=%di %d", i%4, i, ts.UnixNano()))
		}
		w.Flush()
		mu.Lock()
		if len(failures) > 0 {
			t.Errorf("%d batches failed, first: %s", len(failures), failures[0])
		}
		mu.Unlock()
		// The batch size is 100, so the client sent ten gzipped requests.
		if sent := reqs.take(); len(sent) != n/100 || slices.ContainsFunc(sent, func(e string) bool { return e != "gzip" }) {
			t.Errorf("write requests' Content-Encoding: %q, want %d × gzip", sent, n/100)
		}
		g.waitCaughtUp(t, 10*time.Second)
		slices.Sort(want)
		samePoints(t, "go_batched", want, a, b)
	})

	t.Run("flux query", func(t *testing.T) {
		q := client.QueryAPI("influxgate")
		res, err := q.Query(ctx, `from(bucket: "go_blocking/autogen")
  |> range(start: 2023-11-14T00:00:00Z, stop: 2023-11-15T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "go")`)
		if err != nil {
			t.Fatalf("Flux query: %v", err)
		}
		var got []string
		for res.Next() {
			r := res.Record()
			got = append(got, fmt.Sprintf("%s host=%v %s=%v %d", r.Measurement(), r.ValueByKey("host"), r.Field(), r.Value(), r.Time().UnixNano()))
		}
		if err := res.Err(); err != nil {
			t.Fatalf("reading the Flux answer: %v", err)
		}
		slices.Sort(got)
		want := []string{
			`go host=a b=true 1700000000123456789`,
			`go host=a f=1.5 1700000000123456789`,
			`go host=a i=-7 1700000000123456789`,
			`go host=a s=quote " back \ slash 1700000000123456789`,
			`go host=b f=2 1700000001000000001`,
			`go host=c f=3.25 1700000002000000002`,
		}
		if !slices.Equal(got, want) {
			t.Errorf("Flux answer:\n got: %s\nwant: %s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// influxd's error for a database that does not exist reaches the
		// client as an error, not as an empty answer.
		if _, err := q.Query(ctx, `from(bucket: "no_such_db") |> range(start: -1h)`); err == nil {
			t.Error("Flux query on a missing database: no error")
		}
	})

	t.Run("ping and health", func(t *testing.T) {
		if ok, err := client.Ping(ctx); !ok || err != nil {
			t.Errorf("Ping: %v %v", ok, err)
		}
		h, err := client.Health(ctx)
		if err != nil {
			t.Fatalf("Health: %v", err)
		}
		var checks []string
		if h.Checks != nil {
			for _, c := range *h.Checks {
				checks = append(checks, c.Name+":"+string(c.Status))
			}
		}
		if h.Name != "influxgate" || h.Status != domain.HealthCheckStatusPass || !slices.Equal(checks, []string{"a:pass", "b:pass"}) {
			t.Errorf("Health: name %q status %q checks %v", h.Name, h.Status, checks)
		}
	})
}
