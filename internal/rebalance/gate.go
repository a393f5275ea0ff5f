package rebalance

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/influxgate/influxgate/internal/config"
)

// gate is the running influxgate as the rebalance sees it: its /health,
// which says whether it follows the rebalance and, per backend of each
// shard, how old the oldest record it has not delivered yet is.
type gate struct {
	url      string
	listener string
	hc       *http.Client
	// poll is how often the answer is asked for while waiting.
	poll time.Duration
	say  *throttled
}

// gateURL is where the daemon of listener h answers: its bind-addr, with
// the wildcard addresses replaced by loopback, over https when the
// listener serves TLS.
func gateURL(h config.HTTPConfig) (string, error) {
	host, port, err := net.SplitHostPort(h.BindAddr)
	if err != nil {
		return "", fmt.Errorf("bind-addr %q of listener %q: %w", h.BindAddr, h.Name, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	scheme := "http"
	if h.SSLCombinedPEM != "" || h.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

func newGate(url, listener string, say *throttled) *gate {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Only /health is read, without credentials, from the influxgate
	// the operator points at: its certificate need not be checked.
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // see above
	return &gate{url: strings.TrimRight(url, "/"), listener: listener, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second},
		poll: 500 * time.Millisecond, say: say}
}

// health is the part of influxgate's /health answer the rebalance reads.
type health struct {
	Message string        `json:"message"`
	Checks  []healthCheck `json:"checks"`
}

type healthCheck struct {
	Name        string  `json:"name"`
	Listener    string  `json:"listener"`
	Shard       string  `json:"shard"`
	State       string  `json:"state"`
	BacklogRecs uint64  `json:"backlog_records"`
	BacklogAge  float64 `json:"backlog_oldest_age_seconds"`
}

// fetch reads /health; asked is when the request was sent (the ages in
// the answer are measured after it).
func (g *gate) fetch(ctx context.Context) (h health, asked time.Time, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url+"/health", nil)
	if err != nil {
		return h, asked, err
	}
	asked = time.Now()
	resp, err := g.hc.Do(req)
	if err != nil {
		return h, asked, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return h, asked, err
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, asked, fmt.Errorf("HTTP %d, not influxgate's /health: %.200s", resp.StatusCode, b)
	}
	return h, asked, nil
}

// moving waits until influxgate reports the rebalance of the listener (it
// then writes every moving key to both owners) and returns when it first
// did, as seen before the request that said so.
func (g *gate) moving(ctx context.Context) (time.Time, error) {
	for {
		h, asked, err := g.fetch(ctx)
		switch {
		case err != nil:
			g.say.printf("waiting for influxgate at %s to answer (%v); start it with this config", g.url, err)
		case !g.knows(h):
			g.say.printf("waiting for influxgate at %s to serve listener %q with its shards; restart it with this config", g.url, g.listener)
		case !strings.Contains(h.Message, "rebalance"):
			g.say.printf("waiting for influxgate at %s to follow the rebalance (restart it with this config)", g.url)
		default:
			return asked, nil
		}
		if err := sleep(ctx, g.poll); err != nil {
			return time.Time{}, err
		}
	}
}

// knows reports whether the answer has checks of the listener's shards.
func (g *gate) knows(h health) bool {
	for _, c := range h.Checks {
		if c.Listener == g.listener && c.Shard != "" {
			return true
		}
	}
	return false
}

// delivered waits until every backend of the shards named has received
// every record influxgate logged before t: it has no backlog, or the
// oldest record of its backlog arrived after t. Records are delivered in
// log order, so nothing logged before t can reach those backends later.
func (g *gate) delivered(ctx context.Context, shards []string, t time.Time) error {
	for {
		h, asked, err := g.fetch(ctx)
		var behind []string
		switch {
		case err != nil:
			behind = append(behind, fmt.Sprintf("influxgate at %s does not answer (%v)", g.url, err))
		case !g.knows(h):
			behind = append(behind, fmt.Sprintf("influxgate at %s does not serve listener %q with its shards", g.url, g.listener))
		default:
			behind = g.behind(h, asked, shards, t)
		}
		if len(behind) == 0 {
			return nil
		}
		g.say.printf("waiting until the backends have received what influxgate logged before %s: %s",
			t.UTC().Format(time.RFC3339), strings.Join(behind, "; "))
		if err := sleep(ctx, g.poll); err != nil {
			return err
		}
	}
}

// behind lists the backends of the shards named that may still have to
// receive a record logged before t, according to the answer h to a
// request sent at asked. The age of a backlog's oldest record is measured
// when influxgate answers, after asked, so asked minus the age is at or
// before the record's arrival: a record counted as arrived after t did.
// A backlog whose oldest record's age is unknown (0: the replay has not
// read it yet) counts as behind.
func (g *gate) behind(h health, asked time.Time, shards []string, t time.Time) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range h.Checks {
		if c.Listener != g.listener || !slices.Contains(shards, c.Shard) {
			continue
		}
		seen[c.Shard] = true
		oldest := asked.Add(-time.Duration(c.BacklogAge * float64(time.Second)))
		if c.BacklogRecs > 0 && (c.BacklogAge <= 0 || !oldest.After(t)) {
			out = append(out, fmt.Sprintf("%s (shard %s, %s): %d records behind, the oldest %.1fs old",
				c.Name, c.Shard, c.State, c.BacklogRecs, c.BacklogAge))
		}
	}
	for _, s := range shards {
		if !seen[s] {
			out = append(out, fmt.Sprintf("influxgate at %s has no shard %q", g.url, s))
		}
	}
	return out
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
