package query

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/shard"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// landingProxy is a fault injector, not a backend: it passes every
// request on to a real influxd and, after influxd has answered one, calls
// land with how many it has answered. land writes points to that influxd,
// the way a rebalance's copy or a dual write lands on a shard between
// influxgate's listing of what the shard holds and its statement; a real
// server cannot be made to take a write at that moment on demand.
func landingProxy(t *testing.T, s *testinflux.Server, land func(requests int)) string {
	t.Helper()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := http.NewRequest(r.Method, s.URL()+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		land(int(requests.Add(1)))
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// During a rebalance with tag sharding, a merged count leaves out what
// the new owner holds of keys it does not serve yet. When points of such
// a key first reach it after influxgate listed its values and before the
// count ran, the count must not include them twice: the listing asked
// again behind the count shows the value, and the count runs again
// without it. When values keep arriving, the answer is a 503 to retry,
// never a wrong count.
func TestMergedCountLeavesOutKeysThatArriveWhileItRuns(t *testing.T) {
	from, to := shard.NewPlacement([]string{"s1"}), shard.NewPlacement([]string{"s1", "s2"})
	set := testSet(t, "tag:c", shard.NewMoveRoute(from, to, map[string]bool{}, map[string]bool{}))
	var stay string
	var moving []string // values whose new owner is s2, none moved yet
	for i := 0; i < 200 && (stay == "" || len(moving) < 4); i++ {
		v := fmt.Sprintf("c%d", i)
		if to.Owner(set.Key("db", "orders", v)) == "s2" {
			moving = append(moving, v)
		} else if stay == "" {
			stay = v
		}
	}
	if stay == "" || len(moving) < 4 {
		t.Fatal("no placement of the values on both shards")
	}
	old := testinflux.Start(t, testinflux.Options{})
	old.CreateDatabase(t, "db")
	var all strings.Builder
	for i, v := range append([]string{stay}, moving...) {
		fmt.Fprintf(&all, "orders,c=%s v=%d %d\norders,c=%s v=%d %d\n", v, i, int64(i+1)*1e9, v, i, int64(i+100)*1e9)
	}
	old.Write(t, "db", "", all.String()) // the old owner serves every value: 10 points
	newOwner := testinflux.Start(t, testinflux.Options{})
	newOwner.CreateDatabase(t, "db")
	// What lands on the new owner after its first answer (the listing):
	// the first moving value's points in the test of one retry, another
	// moving value after each answer in the test of values that keep
	// coming.
	var land func(requests int)
	proxy := landingProxy(t, newOwner, func(n int) { land(n) })

	opts := ShardedOptions{Set: set, Query: config.QueryConfig{Strategy: "first", MaxLag: time.Second}}
	for _, b := range []struct{ shard, out, loc string }{{"s1", "s1a", old.WriteURL()}, {"s2", "s2a", proxy + "/write"}} {
		opts.Shards = append(opts.Shards, ShardReplicas{Name: b.shard, Relay: liveRelay{b.out},
			Outputs: []config.OutputConfig{{Name: b.out, Location: config.Location(b.loc), Timeout: 5 * time.Second}}})
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
	copyOf := func(v string) string {
		var b strings.Builder
		for _, l := range strings.Split(strings.TrimSpace(all.String()), "\n") {
			if strings.HasPrefix(l, "orders,c="+v+" ") {
				b.WriteString(l + "\n")
			}
		}
		return b.String()
	}

	land = func(n int) {
		if n == 1 {
			newOwner.Write(t, "db", "", copyOf(moving[0]))
		}
	}
	w := ask("SELECT count(v) FROM orders")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"values":[["1970-01-01T00:00:00Z",10]]`) {
		t.Errorf("a count while a moving key lands on its new owner: %d %s; want 10, each point once", w.Code, w.Body)
	}
	// The next count leaves that value out from the start.
	if w := ask("SELECT count(v) FROM orders"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"values":[["1970-01-01T00:00:00Z",10]]`) {
		t.Errorf("a count after the key landed: %d %s; want 10", w.Code, w.Body)
	}

	// A new value after every answer, on and on: the answer is a 503
	// with Retry-After after strayAttempts runs.
	base := 0
	land = func(n int) {
		if base == 0 {
			base = n
		}
		if i := n - base + 1; i < len(moving) {
			newOwner.Write(t, "db", "", copyOf(moving[i]))
		}
	}
	w = ask("SELECT count(v) FROM orders")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" ||
		!strings.Contains(w.Body.String(), "shard s2 received points of keys it does not serve while this statement ran, 3 times: retry") {
		t.Errorf("a count while moving keys keep landing: %d %q %s; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if w := ask("SELECT count(v) FROM orders"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"values":[["1970-01-01T00:00:00Z",10]]`) {
		t.Errorf("a count once they stopped: %d %s; want 10", w.Code, w.Body)
	}
}
