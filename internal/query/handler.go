package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/influxgate/influxgate/internal/auth"
	"github.com/influxgate/influxgate/internal/backend"
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
	rt   *router
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
	return &Handler{opts: opts, rt: rt, log: opts.Logger.With("component", "query")}, nil
}

// Close releases connections.
func (h *Handler) Close() { h.rt.close() }

// ServeQuery handles /query (GET or POST, form or URL parameters).
func (h *Handler) ServeQuery(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodPost:
	case http.MethodOptions:
		w.WriteHeader(http.StatusOK)
		return
	default:
		w.Header().Set("Allow", "GET, OPTIONS, POST")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	start := time.Now()
	if err := r.ParseForm(); err != nil {
		h.fail(w, "query", http.StatusBadRequest, err.Error(), start)
		return
	}
	q := r.Form.Get("q")
	if strings.TrimSpace(q) == "" {
		h.fail(w, "query", http.StatusBadRequest, `missing required parameter "q"`, start)
		return
	}
	var params map[string]any
	if p := r.Form.Get("params"); p != "" {
		dec := json.NewDecoder(strings.NewReader(p))
		dec.UseNumber()
		if err := dec.Decode(&params); err != nil {
			h.fail(w, "query", http.StatusBadRequest, "error parsing query parameters: "+err.Error(), start)
			return
		}
	}
	parsed, class, err := Parse(q, params)
	if err != nil {
		h.fail(w, "query", http.StatusBadRequest, err.Error(), start)
		return
	}
	if h.opts.Gateway {
		// The backends will see the output's credentials: influxgate is
		// the one to check what this client may do.
		p, _ := auth.PrincipalFrom(r.Context())
		if err := p.AuthorizeQuery(parsed, r.Form.Get("db")); err != nil {
			h.fail(w, "query", http.StatusForbidden, err.Error(), start)
			return
		}
	}
	if class == Change {
		h.change(w, r, q, start)
		return
	}
	h.read(w, r, "query", nil, start)
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
	h.read(w, r, "flux", nil, start)
}

// maxKeptAnswer bounds the body of a 5xx answer kept while the next
// backend is tried (InfluxDB's error answers are a few hundred bytes).
const maxKeptAnswer = 1 << 20

// keptAnswer is a backend's 5xx answer, kept to be passed to the client if
// no later backend answers better.
type keptAnswer struct {
	backend string
	status  int
	header  http.Header
	body    []byte
}

// read sends the request to the first candidate that answers without a
// connection error, timeout or 5xx, and streams its answer back. A 5xx
// answer makes it try the next candidate (G3), but it is still InfluxDB's
// answer (a Flux error on a missing bucket is a 500 with the reason): when
// no candidate answers better, the client gets the last such answer as the
// backend gave it — status, headers, body — whether the candidates after
// it answered 5xx too or failed without an answer. Only when no candidate
// answered at all is the answer influxgate's own 503. body is the request
// body to send to each candidate (read here for Flux when nil).
func (h *Handler) read(w http.ResponseWriter, r *http.Request, endpoint string, body []byte, start time.Time) {
	cands := h.rt.candidates()
	if len(cands) == 0 {
		h.fail(w, endpoint, http.StatusServiceUnavailable,
			"no backend is caught up (every backend is down or behind by more than max-lag); reads resume when one catches up", start)
		return
	}
	if endpoint == "flux" && body == nil {
		var err error
		if body, err = io.ReadAll(io.LimitReader(r.Body, maxFluxBody+1)); err != nil {
			h.fail(w, endpoint, http.StatusBadRequest, err.Error(), start)
			return
		} else if len(body) > maxFluxBody {
			h.fail(w, endpoint, http.StatusRequestEntityTooLarge, "Request Entity Too Large", start)
			return
		}
	}
	ctx, cancel := withTimeout(r.Context(), h.opts.Query.Timeout)
	defer cancel()
	var failures []string
	var kept *keptAnswer
	// superseded counts the kept answer as a backend failure once a later
	// backend's answer takes its place.
	superseded := func() {
		if kept != nil {
			h.opts.Metrics.backendFailed(kept.backend)
			kept = nil
		}
	}
	for i, t := range cands {
		req, err := h.backendRequest(ctx, r, t, endpoint, body)
		if err != nil {
			h.fail(w, endpoint, http.StatusBadRequest, err.Error(), start)
			return
		}
		sent := time.Now()
		resp, err := t.client.DoQuery(req)
		if err != nil {
			if r.Context().Err() != nil {
				return // the client went away
			}
			failures = append(failures, fmt.Sprintf("%s: %v", t.name, backend.Redact(err)))
			h.opts.Metrics.backendFailed(t.name)
			continue
		}
		if resp.StatusCode >= 500 && i < len(cands)-1 {
			answer, err := io.ReadAll(io.LimitReader(resp.Body, maxKeptAnswer+1))
			resp.Body.Close()
			superseded()
			if err == nil && len(answer) > maxKeptAnswer {
				err = fmt.Errorf("answer longer than %d bytes", maxKeptAnswer)
			}
			if err != nil {
				// Cut off, or too long to keep: not an answer to pass on.
				failures = append(failures, fmt.Sprintf("%s: %s, then %v", t.name, resp.Status, backend.Redact(err)))
				h.opts.Metrics.backendFailed(t.name)
				continue
			}
			kept = &keptAnswer{backend: t.name, status: resp.StatusCode, header: resp.Header, body: answer}
			failures = append(failures, fmt.Sprintf("%s: %s %s", t.name, resp.Status, bytes.TrimSpace(clipBytes(answer, 200))))
			continue
		}
		superseded()
		if resp.StatusCode >= 500 {
			h.opts.Metrics.errorAnswer(t.name, resp.StatusCode)
		} else {
			t.observe(time.Since(sent))
		}
		h.stream(w, resp, t.name)
		h.opts.Metrics.observe(endpoint, "read", resp.StatusCode, t.name, start)
		return
	}
	if kept != nil {
		// The last answer a backend gave, after the ones behind it failed
		// without one.
		h.opts.Metrics.errorAnswer(kept.backend, kept.status)
		h.log.Debug("passing a backend's error answer on", "backend", kept.backend, "status", kept.status,
			"failures", strings.Join(failures, "; "))
		copyHeader(w.Header(), kept.header)
		w.Header().Set("X-Influxgate-Backend", kept.backend)
		w.WriteHeader(kept.status)
		_, _ = w.Write(kept.body)
		h.opts.Metrics.observe(endpoint, "read", kept.status, kept.backend, start)
		return
	}
	h.log.Warn("every backend failed a read", "failures", strings.Join(failures, "; "))
	h.fail(w, endpoint, http.StatusServiceUnavailable, "every backend failed: "+strings.Join(failures, "; "), start)
}

func clipBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// backendRequest rebuilds the client's request for one backend: in gateway
// mode with the output's credentials (the gateway checked the client's
// rights), in pass-through mode with the client's own credentials only, so
// that an output's credentials never answer a read for a client that did
// not prove its own.
func (h *Handler) backendRequest(ctx context.Context, r *http.Request, t *target, endpoint string, body []byte) (*http.Request, error) {
	client := record.Auth{Header: r.Header.Get("Authorization"), Username: r.Form.Get("u"), Password: r.Form.Get("p")}
	if endpoint != "query" {
		q := r.URL.Query()
		client.Username, client.Password = q.Get("u"), q.Get("p")
	}
	setCredentials := func(hdr http.Header, params url.Values) {
		if h.opts.Gateway {
			t.client.SetCredentials(hdr, params, record.Auth{})
		} else {
			t.client.SetClientCredentials(hdr, params, client)
		}
	}
	u, err := url.Parse(t.client.BaseURL())
	if err != nil {
		return nil, err
	}
	u.User = nil // Go's client would send it as Basic auth; setCredentials decides
	hdr := make(http.Header)
	for _, k := range []string{"Accept", "Accept-Encoding", "Content-Type", "X-Request-Id"} {
		if v := r.Header.Get(k); v != "" {
			hdr.Set(k, v)
		}
	}
	hdr.Set("User-Agent", "influxgate")
	urlParams := r.URL.Query()
	var reqBody io.Reader
	switch {
	case endpoint == "flux":
		u.Path += "/api/v2/query"
		setCredentials(hdr, urlParams)
		reqBody = bytes.NewReader(body)
	case endpoint == "prom_read":
		u.Path += promReadPath
		promHeaders(hdr, r.Header)
		setCredentials(hdr, urlParams)
		reqBody = bytes.NewReader(body)
	case r.Method == http.MethodGet:
		u.Path += "/query"
		setCredentials(hdr, urlParams)
	default:
		u.Path += "/query"
		form := cloneValues(r.PostForm)
		form.Del("u")
		form.Del("p")
		setCredentials(hdr, urlParams)
		hdr.Set("Content-Type", "application/x-www-form-urlencoded")
		reqBody = strings.NewReader(form.Encode())
	}
	u.RawQuery = urlParams.Encode()
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), reqBody)
	if err != nil {
		return nil, err
	}
	req.Header = hdr
	return req, nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// hopHeaders are not passed on (RFC 9110 7.6.1) or are set by our server.
var hopHeaders = map[string]bool{"Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Transfer-Encoding": true, "Te": true, "Trailer": true, "Upgrade": true, "Date": true,
	"Request-Id": true, "X-Request-Id": true}

// copyHeader copies a backend's answer headers but the hop-by-hop ones
// and those our server sets.
func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		if !hopHeaders[k] {
			dst[k] = vs
		}
	}
}

// stream copies the backend's answer to the client as it arrives, so a
// chunked result is never held whole in memory.
func (h *Handler) stream(w http.ResponseWriter, resp *http.Response, name string) {
	defer resp.Body.Close()
	copyHeader(w.Header(), resp.Header)
	w.Header().Set("X-Influxgate-Backend", name)
	w.WriteHeader(resp.StatusCode)
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				h.log.Warn("read answer cut off", "backend", name, "err", err)
			}
			return
		}
	}
}

// change logs a schema change so that every backend applies it in order
// with the writes, and answers per the consistency level with the first
// backend's results.
func (h *Handler) change(w http.ResponseWriter, r *http.Request, q string, start time.Time) {
	rec := record.Record{Kind: record.KindQuery, Received: time.Now().UnixNano(),
		DB: r.Form.Get("db"), RP: r.Form.Get("rp"), Body: []byte(q)}
	if p := r.Form.Get("params"); p != "" {
		rec.Params = url.Values{"params": {p}}.Encode()
	}
	if h.opts.Gateway {
		// Authorised above against the client's rights: the backends get
		// the output's credentials, now and on replay.
		rec.Flags |= record.FlagGatewayAuthorized
	} else {
		// Only the client's own credentials, now and on replay.
		rec.Auth = record.Auth{Header: r.Header.Get("Authorization"), Username: r.Form.Get("u"), Password: r.Form.Get("p")}
	}
	ans := h.opts.Relay.Write(r.Context(), &rec, h.opts.Consistency)
	body := ans.Body
	status := ans.Status
	if status == http.StatusNoContent {
		// Stored, but no backend could apply it yet: say so in InfluxDB's
		// result shape, one result per statement.
		status, body = http.StatusOK, queuedResults(q)
	}
	w.Header().Set("Content-Type", "application/json")
	if status >= 400 {
		w.Header().Set("X-Influxdb-Error", influxerr.Header(ans.Message()))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
	h.opts.Metrics.observe("query", "change", status, "", start)
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
	influxerr.Write(w, status, msg)
	h.opts.Metrics.observe(endpoint, "error", status, "", start)
}
