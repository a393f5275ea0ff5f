package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// countValues counts the rows of a /query answer, chunked or not.
func countValues(body []byte) (int, error) {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	n := 0
	for {
		var chunk struct {
			Results []struct {
				Series []struct {
					Values []json.RawMessage `json:"values"`
				} `json:"series"`
			} `json:"results"`
		}
		if err := dec.Decode(&chunk); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
		for _, r := range chunk.Results {
			for _, s := range r.Series {
				n += len(s.Values)
			}
		}
	}
}

// Reads that are huge, that a backend never answers, or whose answer stops
// half way: the huge one streams whole, a hanging backend is passed over,
// all hanging gives 503, a stalled answer is cut by the query timeout, and
// writes beside them are not disturbed.
func TestHostileQueries(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, loadDB)
	pa, pb := newFakeFaultProxy(t, "a", a.URL()), newFakeFaultProxy(t, "b", b.URL())
	cfg := newConfig(t)
	ob, oa := output("b", pb.WriteURL()), output("a", pa.WriteURL())
	oa.Timeout, ob.Timeout = 2*time.Second, 2*time.Second
	cfg.HTTP[0].Outputs = append(cfg.HTTP[0].Outputs, oa, ob)
	cfg.HTTP[0].Query.Strategy = "first"
	cfg.HTTP[0].Query.Timeout = 8 * time.Second
	cfg.ApplyDefaults()
	g := startGate(t, cfg)

	l := &ledger{}
	const stored = 100_000
	for i := 0; i < stored/5000; i++ {
		first := l.reserve(5000)
		g.mustWrite(t, "db="+loadDB, loadBody(first, 5000))
		l.settle(first, 5000, acked)
	}
	g.waitCaughtUp(t, time.Minute)
	load := newLoadGen(g.url, l, 20, 20*time.Millisecond)
	load.start(1)

	client := &http.Client{Timeout: 30 * time.Second}
	query := func(params url.Values) (int, http.Header, []byte, error) {
		resp, err := client.Get(g.url + "/query?" + params.Encode())
		if err != nil {
			return 0, nil, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, body, err
	}
	huge := url.Values{"db": {loadDB}, "epoch": {"ns"},
		"q": {fmt.Sprintf("SELECT v FROM %s WHERE time < %d", loadMeasurement, loadBase+stored)}}

	// A huge answer streams through whole, plain and chunked.
	for _, chunked := range []bool{false, true} {
		p := url.Values{}
		for k, v := range huge {
			p[k] = v
		}
		if chunked {
			p.Set("chunked", "true")
			p.Set("chunk_size", "7000")
		}
		status, _, body, err := query(p)
		n, derr := countValues(body)
		if err != nil || derr != nil || status != http.StatusOK || n != stored {
			t.Errorf("huge read (chunked=%v): %d, %d rows (%v, %v), want %d", chunked, status, n, err, derr, stored)
		}
	}

	// a never answers: the read goes to b.
	pa.set(fault{Mode: modeHang, Path: "/query"})
	status, hdr, body, err := query(huge)
	if err != nil || status != http.StatusOK || hdr.Get("X-Influxgate-Backend") != "b" {
		t.Errorf("read with a hanging: %d from %q, %v: %s", status, hdr.Get("X-Influxgate-Backend"), err, short(body))
	}
	// Neither answers: 503.
	pb.set(fault{Mode: modeHang, Path: "/query"})
	status, _, body, err = query(huge)
	if err != nil || status != http.StatusServiceUnavailable || !strings.Contains(string(body), "every backend failed") {
		t.Errorf("read with both hanging: %d %v %s", status, err, short(body))
	}
	pb.set(fault{})
	// a answers half and stalls: the query timeout ends the answer.
	pa.set(fault{Mode: modeStall, Path: "/query"})
	status, hdr, body, err = query(huge)
	if status != http.StatusOK || hdr.Get("X-Influxgate-Backend") != "a" || (err == nil && json.Valid(body)) {
		t.Errorf("stalled read: %d from %q, %d bytes, %v; want a 200 from a cut short", status, hdr.Get("X-Influxgate-Backend"), len(body), err)
	}
	pa.set(fault{})

	// A query text of 2 MB gets InfluxDB's own answer. (The bulk is a
	// comment: influxd's planner is quadratic in the terms of a WHERE
	// clause, so 2 MB of conditions would take it hours.)
	bigQ := fmt.Sprintf("SELECT count(v) FROM %s WHERE time < %d -- %s", loadMeasurement, loadBase+stored, strings.Repeat("x", 2<<20))
	form := []byte(url.Values{"db": {loadDB}, "q": {bigQ}}.Encode())
	hdrs := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	got := rawRequest(t, strings.TrimPrefix(g.url, "http://"), http.MethodPost, "/query", hdrs, form, false)
	want := rawRequest(t, a.Addr(), http.MethodPost, "/query", hdrs, form, false)
	if got.Status != http.StatusOK || string(got.Body) != string(want.Body) || !strings.Contains(string(got.Body), fmt.Sprintf(",%d]]", stored)) {
		t.Errorf("2 MB query: %d %s, InfluxDB %d %s", got.Status, short(got.Body), want.Status, short(want.Body))
	}

	load.halt()
	g.waitCaughtUp(t, time.Minute)
	audit(t, l.snapshot(), []auditBackend{{name: "a", server: a, proxy: pa}, {name: "b", server: b, proxy: pb}}, nil)
}
