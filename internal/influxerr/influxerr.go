// Package influxerr is the one home of InfluxDB's error answers: the JSON
// body {"error":"..."} and the X-Influxdb-Error header. Every handler that
// answers like InfluxDB and every client that reads InfluxDB's answers uses
// it, so the two sides cannot drift apart.
package influxerr

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
)

// Body renders {"error":"msg"} followed by a newline, as InfluxDB does.
func Body(msg string) []byte {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	return append(b, '\n')
}

// Message returns the "error" field of an InfluxDB JSON error body, or ""
// when body is not one. It looks at the first byte before decoding, so a
// large body that is not JSON costs nothing.
func Message(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) < 2 || body[0] != '{' {
		return ""
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error
}

// Text returns the error text of an answer body: its "error" field, else
// the body itself without surrounding space.
func Text(body []byte) string {
	if m := Message(body); m != "" {
		return m
	}
	return string(bytes.TrimSpace(body))
}

// maxHeader bounds X-Influxdb-Error. InfluxDB puts the whole message there,
// bad input lines included, and a 70 KB line makes a header that common
// clients refuse (Python's http.client stops at 64 KiB); the full message
// is in the JSON body either way.
const maxHeader = 4 << 10

// Header makes msg fit for X-Influxdb-Error. Line breaks become spaces, as
// Go's HTTP server (and so influxd) sends them; other control bytes (a
// backend may echo raw request bytes, NULs included) become '?' so that no
// client's HTTP parser chokes on them. It is cut at 4 KiB.
func Header(msg string) string {
	if len(msg) > maxHeader {
		msg = strings.ToValidUTF8(msg[:maxHeader], "") + "…"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r':
			return ' '
		case r == '\t' || (r >= 0x20 && r != 0x7f):
			return r
		}
		return '?'
	}, msg)
}

// Write answers like InfluxDB: status, Content-Type application/json, the
// message in X-Influxdb-Error and {"error":"msg"} as the body.
func Write(w http.ResponseWriter, status int, msg string) {
	WriteBody(w, status, Body(msg))
}

// RetryAfter is the Retry-After, in seconds, that WriteBody adds to a 503
// or 429 unless the caller set one. influxgate answers 503 for refusals
// that pass in seconds (a full backlog under overflow = "reject", the
// write memory budget, a log that takes no appends, a moment without a
// caught-up backend), and a client that honours the header comes back then,
// neither at once nor after a long backoff of its own.
const RetryAfter = "1"

// WriteBody answers with an error body already rendered (a backend's, say);
// X-Influxdb-Error carries its message. A 503 or 429 carries Retry-After.
func WriteBody(w http.ResponseWriter, status int, body []byte) {
	if (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) &&
		w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", RetryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Influxdb-Error", Header(Text(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
