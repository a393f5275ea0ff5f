package query

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/influxerr"
	"github.com/influxgate/influxgate/internal/record"
)

// replicas reads from one replica set: the backends of an unsharded
// listener, or those of one shard. It picks caught-up backends by the
// routing strategy, falls back to the next on a connection error or a
// 5xx, and puts the right credentials on each request.
type replicas struct {
	// shard is the shard's name, "" for an unsharded listener; it
	// prefixes influxgate's own messages about the set.
	shard string
	rt    *router
	// gateway: influxgate authenticated the client itself (see
	// Options.Gateway).
	gateway bool
	timeout time.Duration
	log     *slog.Logger
	metrics *Metrics
}

// errNoneCaughtUp is the text of the 503 when no backend may serve reads.
const errNoneCaughtUp = "no backend is caught up (every backend is down or behind by more than max-lag); reads resume when one catches up"

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

// attempt is how a read went over a set's candidates.
type attempt struct {
	// resp is the answer of the backend that answered (below 500, or a
	// 5xx of the last candidate), its body unread; nil if none did.
	resp   *http.Response
	target *target
	// kept is the last 5xx answer, when the candidates after it failed
	// without an answer.
	kept     *keptAnswer
	failures []string
	// gone: the client went away.
	gone bool
}

// buildError is a request that could not be built: the client's mistake.
type buildError struct{ err error }

func (e *buildError) Error() string { return e.err.Error() }

// try sends the request build makes for each candidate in turn until one
// answers without a connection error, timeout or 5xx. A 5xx answer makes
// it try the next candidate (G3), but it is still InfluxDB's answer (a
// Flux error on a missing bucket is a 500 with the reason): when no
// candidate answers better, the last such answer is kept to be passed on,
// whether the candidates after it answered 5xx too or failed without an
// answer. clientCtx is the client's own context (to tell a client gone
// from a backend failing).
func (rs *replicas) try(cands []*target, clientCtx context.Context, build func(t *target) (*http.Request, error)) (attempt, error) {
	var a attempt
	// superseded counts the kept answer as a backend failure once a later
	// backend's answer takes its place.
	superseded := func() {
		if a.kept != nil {
			rs.metrics.backendFailed(a.kept.backend)
			a.kept = nil
		}
	}
	for i, t := range cands {
		req, err := build(t)
		if err != nil {
			return a, &buildError{err}
		}
		sent := time.Now()
		resp, err := t.client.DoQuery(req)
		if err != nil {
			if clientCtx.Err() != nil {
				a.gone = true
				return a, nil
			}
			a.failures = append(a.failures, fmt.Sprintf("%s: %v", t.name, backend.Redact(err)))
			rs.metrics.backendFailed(t.name)
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
				a.failures = append(a.failures, fmt.Sprintf("%s: %s, then %v", t.name, resp.Status, backend.Redact(err)))
				rs.metrics.backendFailed(t.name)
				continue
			}
			a.kept = &keptAnswer{backend: t.name, status: resp.StatusCode, header: resp.Header, body: answer}
			a.failures = append(a.failures, fmt.Sprintf("%s: %s %s", t.name, resp.Status, bytes.TrimSpace(clipBytes(answer, 200))))
			continue
		}
		superseded()
		if resp.StatusCode >= 500 {
			rs.metrics.errorAnswer(t.name, resp.StatusCode)
		} else {
			t.observe(time.Since(sent))
		}
		a.resp, a.target = resp, t
		return a, nil
	}
	if a.kept != nil {
		rs.metrics.errorAnswer(a.kept.backend, a.kept.status)
		rs.log.Debug("passing a backend's error answer on", "backend", a.kept.backend, "status", a.kept.status,
			"failures", strings.Join(a.failures, "; "))
	}
	return a, nil
}

// noneCaughtUp is the 503 text for a set without candidates.
func (rs *replicas) noneCaughtUp() string {
	if rs.shard != "" {
		return "shard " + rs.shard + ": " + errNoneCaughtUp
	}
	return errNoneCaughtUp
}

// allFailed is the 503 text when every candidate failed without an answer.
func (rs *replicas) allFailed(failures []string) string {
	msg := "every backend failed: " + strings.Join(failures, "; ")
	if rs.shard != "" {
		return "shard " + rs.shard + ": " + msg
	}
	return msg
}

// forward sends the client's request to the first candidate that answers
// (see try) and streams its answer back, byte for byte. When no candidate
// answers better, the client gets the last 5xx answer a backend gave, as
// it gave it — status, headers, body. Only when no candidate answered at
// all is the answer influxgate's own 503. body is the Flux request body
// (read here, after the candidates are known, when nil).
func (rs *replicas) forward(w http.ResponseWriter, r *http.Request, endpoint string, body []byte, start time.Time) {
	rs.forwardTo(w, r, rs.rt.candidates(), endpoint, body, start)
}

// forwardTo is forward to candidates already chosen (candidates advances
// the round-robin: it is asked once per request).
func (rs *replicas) forwardTo(w http.ResponseWriter, r *http.Request, cands []*target, endpoint string, body []byte, start time.Time) {
	if len(cands) == 0 {
		fail(w, rs.metrics, endpoint, http.StatusServiceUnavailable, rs.noneCaughtUp(), start)
		return
	}
	if endpoint == "flux" && body == nil {
		var status int
		var msg string
		if body, status, msg = readFluxBody(r); status != 0 {
			fail(w, rs.metrics, endpoint, status, msg, start)
			return
		}
	}
	ctx, cancel := withTimeout(r.Context(), rs.timeout)
	defer cancel()
	a, err := rs.try(cands, r.Context(), func(t *target) (*http.Request, error) {
		return rs.backendRequest(ctx, r, t, endpoint, body)
	})
	switch {
	case err != nil:
		fail(w, rs.metrics, endpoint, http.StatusBadRequest, err.Error(), start)
	case a.gone:
	case a.resp != nil:
		rs.stream(w, a.resp, a.target.name)
		rs.metrics.observe(endpoint, "read", a.resp.StatusCode, a.target.name, start)
	case a.kept != nil:
		copyHeader(w.Header(), a.kept.header)
		w.Header().Set("X-Influxgate-Backend", a.kept.backend)
		w.WriteHeader(a.kept.status)
		_, _ = w.Write(a.kept.body)
		rs.metrics.observe(endpoint, "read", a.kept.status, a.kept.backend, start)
	default:
		rs.log.Warn("every backend failed a read", "failures", strings.Join(a.failures, "; "))
		fail(w, rs.metrics, endpoint, http.StatusServiceUnavailable, rs.allFailed(a.failures), start)
	}
}

// readFluxBody reads a Flux request body whole (it may be sent to more
// than one backend); status is 0 when it was read.
func readFluxBody(r *http.Request) (body []byte, status int, msg string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFluxBody+1))
	if err != nil {
		return nil, http.StatusBadRequest, err.Error()
	}
	if len(body) > maxFluxBody {
		return nil, http.StatusRequestEntityTooLarge, "Request Entity Too Large"
	}
	return body, 0, ""
}

func clipBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// clientAuth returns the credentials the client sent.
func clientAuth(r *http.Request, endpoint string) record.Auth {
	client := record.Auth{Header: r.Header.Get("Authorization"), Username: r.Form.Get("u"), Password: r.Form.Get("p")}
	if endpoint != "query" {
		q := r.URL.Query()
		client.Username, client.Password = q.Get("u"), q.Get("p")
	}
	return client
}

// setCredentials puts the credentials for t on a request: in gateway mode
// the output's (the gateway checked the client's rights), in pass-through
// mode the client's own only, so that an output's credentials never
// answer a read for a client that did not prove its own.
func (rs *replicas) setCredentials(t *target, hdr http.Header, params url.Values, client record.Auth) {
	if rs.gateway {
		t.client.SetCredentials(hdr, params, record.Auth{})
	} else {
		t.client.SetClientCredentials(hdr, params, client)
	}
}

// backendRequest rebuilds the client's request for one backend, with the
// credentials setCredentials decides.
func (rs *replicas) backendRequest(ctx context.Context, r *http.Request, t *target, endpoint string, body []byte) (*http.Request, error) {
	client := clientAuth(r, endpoint)
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
		rs.setCredentials(t, hdr, urlParams, client)
		reqBody = bytes.NewReader(body)
	case endpoint == "prom_read":
		u.Path += promReadPath
		promHeaders(hdr, r.Header)
		rs.setCredentials(t, hdr, urlParams, client)
		reqBody = bytes.NewReader(body)
	case r.Method == http.MethodGet:
		u.Path += "/query"
		rs.setCredentials(t, hdr, urlParams, client)
	default:
		u.Path += "/query"
		form := cloneValues(r.PostForm)
		form.Del("u")
		form.Del("p")
		rs.setCredentials(t, hdr, urlParams, client)
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
func (rs *replicas) stream(w http.ResponseWriter, resp *http.Response, name string) {
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
				rs.log.Warn("read answer cut off", "backend", name, "err", err)
			}
			return
		}
	}
}

// fail answers with InfluxDB's error body and counts the answer.
func fail(w http.ResponseWriter, m *Metrics, endpoint string, status int, msg string, start time.Time) {
	influxerr.Write(w, status, msg)
	m.observe(endpoint, "error", status, "", start)
}
