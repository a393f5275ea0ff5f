package query

import (
	"bytes"
	"io"
	"net/http"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// promReadPath is Prometheus's remote read endpoint on InfluxDB 1.x.
const promReadPath = "/api/v1/prom/read"

// maxPromReadBody bounds a remote read request, kept whole so that it can
// be sent again to the next backend (a ReadRequest holds a few matchers).
const maxPromReadBody = 10 << 20

// maxCountedAnswer bounds the answer kept to count its samples for the
// metrics; larger answers are passed on all the same, uncounted.
const maxCountedAnswer = 32 << 20

// ServePromRead handles POST /api/v1/prom/read?db=&rp=&u=&p=, Prometheus's
// remote read: routed like any read (a caught-up backend, the next one on
// a connection error or 5xx), the snappy protobuf body forwarded as it
// came and the backend's answer streamed back byte for byte.
func (h *Handler) ServePromRead(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if !allowPromRead(w, r) {
		return
	}
	body, status, msg := readPromBody(r)
	if status != 0 {
		h.fail(w, "prom_read", status, msg, start)
		return
	}
	tw := &teeWriter{ResponseWriter: w, limit: maxCountedAnswer}
	h.rs.forward(tw, r, "prom_read", body, start)
	h.opts.Metrics.promRead(tw)
}

// allowPromRead answers 405 for anything but POST, as InfluxDB's router
// does (OPTIONS included).
func allowPromRead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodPost {
		return true
	}
	w.Header().Set("Allow", "POST")
	http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	return false
}

// readPromBody reads a remote read request whole; status is 0 when it
// was read, else the answer's status and text.
func readPromBody(r *http.Request) (body []byte, status int, msg string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPromReadBody+1))
	switch {
	case err != nil:
		// InfluxDB answers a body it cannot read with 500.
		return nil, http.StatusInternalServerError, err.Error()
	case len(body) > maxPromReadBody:
		return nil, http.StatusRequestEntityTooLarge, "Request Entity Too Large"
	}
	return body, 0, ""
}

// promHeaders copies the headers of a remote read that the request
// builder does not copy for every read.
func promHeaders(dst, src http.Header) {
	for _, k := range []string{"Content-Encoding", "X-Prometheus-Remote-Read-Version"} {
		if v := src.Get(k); v != "" {
			dst.Set(k, v)
		}
	}
}

// teeWriter passes an answer on and keeps a copy of it, up to limit
// bytes, to count its samples once it is sent.
type teeWriter struct {
	http.ResponseWriter
	limit  int
	status int
	buf    bytes.Buffer
	over   bool
}

func (t *teeWriter) WriteHeader(status int) {
	if t.status == 0 {
		t.status = status
	}
	t.ResponseWriter.WriteHeader(status)
}

func (t *teeWriter) Write(p []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	if !t.over {
		if t.buf.Len()+len(p) > t.limit {
			t.over = true
			t.buf = bytes.Buffer{}
		} else {
			t.buf.Write(p)
		}
	}
	return t.ResponseWriter.Write(p)
}

// Flush lets the streamed answer reach the client as it arrives.
func (t *teeWriter) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// promSamples decodes a kept remote read answer and counts its series and
// samples; ok is false for an answer that is not a ReadResponse.
func promSamples(snappyBody []byte) (series, samples int, ok bool) {
	plain, err := snappy.Decode(nil, snappyBody)
	if err != nil {
		return 0, 0, false
	}
	var resp prompb.ReadResponse
	if err := resp.Unmarshal(plain); err != nil {
		return 0, 0, false
	}
	for _, res := range resp.Results {
		if res == nil {
			continue
		}
		series += len(res.Timeseries)
		for _, ts := range res.Timeseries {
			samples += len(ts.Samples)
		}
	}
	return series, samples, true
}
