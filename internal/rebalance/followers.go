package rebalance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/influxgate/influxgate/internal/shard"
)

// followerFresh is how recent a node's report must be for the node to
// count as serving the listener. Nodes report every second; a node whose
// report is older is taken for stopped. The age is measured against the
// NATS server's clock, so this machine's clock must be within a few
// seconds of it.
const followerFresh = 10 * time.Second

// following waits, when several nodes share the state (its log in NATS),
// until every node that reported lately routes by the state stored now
// and need holds for its report (nil: no further need), and returns the
// later of notBefore and the moment it saw them all: from then on every
// node routes that way. With the state in a listener's directory there is
// one daemon, which the gate's /health and Settle cover, and it returns
// notBefore at once.
func (e *engine) following(ctx context.Context, notBefore time.Time, what string, need func(shard.Follower) bool) (time.Time, error) {
	fs, ok := e.state.(shard.Followers)
	if !ok {
		return notBefore, nil
	}
	v, err := e.state.Version()
	if err != nil {
		return notBefore, fmt.Errorf("read the rebalance state's version: %w", err)
	}
	for {
		asked := time.Now()
		reports, err := fs.Followers()
		var behind []string
		fresh := 0
		switch {
		case err != nil:
			behind = append(behind, fmt.Sprintf("cannot read the nodes' reports (%v)", err))
		default:
			slices.SortFunc(reports, func(a, b shard.Follower) int { return strings.Compare(a.Node, b.Node) })
			for _, f := range reports {
				if asked.Sub(f.At) > followerFresh {
					continue // stopped
				}
				fresh++
				if !f.Version.Covers(v) || (need != nil && !need(f)) {
					behind = append(behind, fmt.Sprintf("node %s (reported %s ago)", f.Node, asked.Sub(f.At).Round(100*time.Millisecond)))
				}
			}
			if fresh == 0 {
				behind = append(behind, "no influxgate node has reported in the last "+followerFresh.String())
			}
		}
		if len(behind) == 0 {
			if asked.After(notBefore) {
				return asked, nil
			}
			return notBefore, nil
		}
		e.say.printf("waiting until every influxgate node serving listener %q %s: %s", e.h.Name, what, strings.Join(behind, "; "))
		if err := sleep(ctx, e.gate.poll); err != nil {
			return notBefore, err
		}
	}
}
