package query

import (
	"net/http"

	"github.com/influxgate/influxgate/internal/influxerr"
)

// ServePromRead handles /api/v1/prom/read on a sharded listener. Not yet:
// an exact answer needs the query's series from every shard that may hold
// them (see docs/configuration.md, "Prometheus").
func (h *ShardedHandler) ServePromRead(w http.ResponseWriter, r *http.Request) {
	influxerr.Write(w, http.StatusBadRequest,
		"Prometheus remote read is not served on a sharded listener yet: point remote_read at an unsharded listener over the same backends, or at each shard's backends")
}
