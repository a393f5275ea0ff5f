package query

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/influxdata/influxql"
	"github.com/influxgate/influxgate/internal/auth"
	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/influxerr"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
)

// Relay is the part of a relay the gateway needs: freshness for routing,
// Write to log a schema change.
type Relay interface {
	Freshness
	Write(ctx context.Context, rec *record.Record, c relay.Consistency) relay.Answer
}

// Options configure the gateway of one listener.
type Options struct {
	Relay       Relay
	Outputs     []config.OutputConfig
	Query       config.QueryConfig
	Consistency relay.Consistency
	// Gateway is true when influxgate authenticated the client itself
	// (auth.Gateway's Middleware put an auth.Principal in the request's
	// context): each statement is checked against the client's rights,
	// and the backends get the output's credentials (or none). Otherwise
	// (pass-through) reads and statements carry only the client's own
	// credentials, never the output's.
	Gateway bool
	Logger  *slog.Logger
	Metrics *Metrics
}

// Handler serves /query and /api/v2/query.
type Handler struct {
	opts Options
	rs   *replicas
	log  *slog.Logger
}

// maxFluxBody bounds a Flux request body, kept whole so that it can be
// sent again to the next backend.
const maxFluxBody = 10 << 20

// New builds the gateway.
func New(opts Options) (*Handler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	rt, err := newRouter(opts.Relay, opts.Outputs, opts.Query)
	if err != nil {
		return nil, err
	}
	log := opts.Logger.With("component", "query")
	rs := &replicas{rt: rt, gateway: opts.Gateway, timeout: opts.Query.Timeout, log: log, metrics: opts.Metrics}
	return &Handler{opts: opts, rs: rs, log: log}, nil
}

// Close releases connections.
func (h *Handler) Close() { h.rs.rt.close() }

// ServeQuery handles /query (GET or POST, form or URL parameters).
func (h *Handler) ServeQuery(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	req, ok := parseQueryRequest(w, r, h.opts.Gateway, h.opts.Metrics, start)
	if !ok {
		return
	}
	if req.class == Change {
		h.change(w, r, req.q, start)
		return
	}
	h.rs.forward(w, r, "query", nil, start)
}

// queryRequest is a /query request parsed and authorised.
type queryRequest struct {
	q      string
	parsed *influxql.Query
	class  Class
}

// parseQueryRequest answers the method, parses the form and the query,
// and in gateway mode checks the statements against the client's rights.
// It has answered the client when ok is false.
func parseQueryRequest(w http.ResponseWriter, r *http.Request, gateway bool, m *Metrics, start time.Time) (req queryRequest, ok bool) {
	switch r.Method {
	case http.MethodGet, http.MethodPost:
	case http.MethodOptions:
		w.WriteHeader(http.StatusOK)
		return req, false
	default:
		w.Header().Set("Allow", "GET, OPTIONS, POST")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return req, false
	}
	if err := r.ParseForm(); err != nil {
		fail(w, m, "query", http.StatusBadRequest, err.Error(), start)
		return req, false
	}
	req.q = r.Form.Get("q")
	if strings.TrimSpace(req.q) == "" {
		fail(w, m, "query", http.StatusBadRequest, `missing required parameter "q"`, start)
		return req, false
	}
	var params map[string]any
	if p := r.Form.Get("params"); p != "" {
		dec := json.NewDecoder(strings.NewReader(p))
		dec.UseNumber()
		if err := dec.Decode(&params); err != nil {
			fail(w, m, "query", http.StatusBadRequest, "error parsing query parameters: "+err.Error(), start)
			return req, false
		}
	}
	var err error
	req.parsed, req.class, err = Parse(req.q, params)
	if err != nil {
		fail(w, m, "query", http.StatusBadRequest, err.Error(), start)
		return req, false
	}
	if gateway {
		// The backends will see the output's credentials: influxgate is
		// the one to check what this client may do.
		p, _ := auth.PrincipalFrom(r.Context())
		if err := p.AuthorizeQuery(req.parsed, r.Form.Get("db")); err != nil {
			fail(w, m, "query", http.StatusForbidden, err.Error(), start)
			return req, false
		}
	}
	return req, true
}

// ServeFlux handles /api/v2/query: a Flux (or JSON) body, routed like a
// read, needing the read right in gateway mode: influxd 1.8.10 implements
// no Flux function that writes (to() answers 500 "not implemented"); one
// that did would write only on the backend that ran the query.
func (h *Handler) ServeFlux(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	h.rs.forward(w, r, "flux", nil, start)
}

// change logs a schema change so that every backend applies it in order
// with the writes, and answers per the consistency level with the first
// backend's results.
func (h *Handler) change(w http.ResponseWriter, r *http.Request, q string, start time.Time) {
	rec := changeRecord(r, q, r.Form.Get("params"), h.opts.Gateway)
	ans := h.opts.Relay.Write(r.Context(), &rec, h.opts.Consistency)
	status := writeChangeAnswer(w, ans, q)
	h.opts.Metrics.observe("query", "change", status, "", start)
}

// changeRecord is the log record of a schema change q (with its bound
// parameters, if any): in gateway mode flagged as authorised by
// influxgate (the backends get the output's credentials, now and on
// replay), otherwise carrying only the client's own credentials.
func changeRecord(r *http.Request, q, params string, gateway bool) record.Record {
	rec := record.Record{Kind: record.KindQuery, Received: time.Now().UnixNano(),
		DB: r.Form.Get("db"), RP: r.Form.Get("rp"), Body: []byte(q)}
	if params != "" {
		rec.Params = url.Values{"params": {params}}.Encode()
	}
	if gateway {
		rec.Flags |= record.FlagGatewayAuthorized
	} else {
		rec.Auth = record.Auth{Header: r.Header.Get("Authorization"), Username: r.Form.Get("u"), Password: r.Form.Get("p")}
	}
	return rec
}

// writeChangeAnswer answers a schema change: the backend's results, its
// refusal, or (204: stored, but no backend could apply it yet) a warning
// in InfluxDB's result shape, one result per statement of q. It returns
// the status it answered with.
func writeChangeAnswer(w http.ResponseWriter, ans relay.Answer, q string) int {
	body := ans.Body
	status := ans.Status
	if status == http.StatusNoContent {
		status, body = http.StatusOK, queuedResults(q)
	}
	w.Header().Set("Content-Type", "application/json")
	if status >= 400 {
		w.Header().Set("X-Influxdb-Error", influxerr.Header(ans.Message()))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return status
}

func queuedResults(q string) []byte {
	n := 1
	if parsed, err := Statements(q); err == nil {
		n = parsed
	}
	type message struct {
		Level string `json:"level"`
		Text  string `json:"text"`
	}
	type result struct {
		StatementID int       `json:"statement_id"`
		Messages    []message `json:"messages"`
	}
	out := struct {
		Results []result `json:"results"`
	}{}
	for i := 0; i < n; i++ {
		out.Results = append(out.Results, result{StatementID: i, Messages: []message{{Level: "warning",
			Text: "influxgate stored this statement; no backend could apply it yet, each will in order when it catches up"}}})
	}
	b, _ := json.Marshal(out)
	return append(b, '\n')
}

func (h *Handler) fail(w http.ResponseWriter, endpoint string, status int, msg string, start time.Time) {
	fail(w, h.opts.Metrics, endpoint, status, msg, start)
}
