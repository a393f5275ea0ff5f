package query

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/influxerr"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/shard"
)

// ShardRelay is what the gateway of a sharded listener needs of one
// shard's relay: freshness for routing reads, Append and Await to log a
// schema change on that shard.
type ShardRelay interface {
	Freshness
	Append(rec *record.Record) (relay.Ticket, error)
	Await(ctx context.Context, t relay.Ticket, c relay.Consistency) relay.Answer
}

// ShardReplicas is one shard of a sharded listener, as the gateway sees it.
type ShardReplicas struct {
	Name    string
	Relay   ShardRelay
	Outputs []config.OutputConfig
}

// ShardedOptions configure the gateway of a sharded listener.
type ShardedOptions struct {
	Set         *shard.Set
	Shards      []ShardReplicas // in the Set's order
	Query       config.QueryConfig
	Consistency relay.Consistency
	Gateway     bool
	Logger      *slog.Logger
	Metrics     *Metrics
}

// ShardedHandler serves /query and /api/v2/query of a sharded listener.
type ShardedHandler struct {
	opts ShardedOptions
	prom promShards // remote read (prom_sharded.go)
}

// NewSharded builds the gateway of a sharded listener.
func NewSharded(opts ShardedOptions) (*ShardedHandler, error) {
	prom, err := newPromShards(opts)
	if err != nil {
		return nil, err
	}
	return &ShardedHandler{opts: opts, prom: prom}, nil
}

// ServeQuery handles /query.
func (h *ShardedHandler) ServeQuery(w http.ResponseWriter, r *http.Request) {
	influxerr.Write(w, http.StatusNotImplemented, "queries on a sharded listener are not implemented yet")
}

// ServeFlux handles /api/v2/query.
func (h *ShardedHandler) ServeFlux(w http.ResponseWriter, r *http.Request) {
	influxerr.Write(w, http.StatusNotImplemented, "queries on a sharded listener are not implemented yet")
}

// Close releases connections.
func (h *ShardedHandler) Close() { h.prom.close() }
