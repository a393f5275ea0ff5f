package backend

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/influxgate/influxgate/internal/influxerr"
)

// Class is what a delivery attempt's outcome means for the record.
type Class uint8

const (
	// Accepted: the backend stored the points (2xx).
	Accepted Class = iota
	// Rejected: the data itself is bad (unparsable lines, partial write,
	// field type conflict, points beyond retention, other 400s). Every
	// replica would answer the same, so it is never retried.
	Rejected
	// Mismatch: the backend refused for a reason that depends on its own
	// state rather than on the data — database or retention policy
	// missing, credentials unknown, a wrong URL. Another replica may well
	// accept the same record, so the relay decides between dropping (every
	// replica refused) and dead-lettering (the replicas disagree).
	Mismatch
	// TooLarge: 413; the batch is split and sent again.
	TooLarge
	// Transient: connection errors, timeouts, 5xx, 429, anything
	// unexpected. Retried with backoff until delivered.
	Transient
)

func (c Class) String() string {
	switch c {
	case Accepted:
		return "accepted"
	case Rejected:
		return "rejected"
	case Mismatch:
		return "mismatch"
	case TooLarge:
		return "too_large"
	default:
		return "transient"
	}
}

// Result is the classified outcome of one request to a backend.
type Result struct {
	Class  Class
	Status int    // HTTP status; 0 when no response arrived
	Body   []byte // response body (bounded), InfluxDB's JSON error for failures
	// Reason is a short stable label for metrics and logs, e.g.
	// "bad_data", "partial_write", "type_conflict", "beyond_retention",
	// "db_not_found", "rp_not_found", "unauthorized", "server_error",
	// "throttled", "timeout", "connection".
	Reason string
	// RetryAfter is the server's Retry-After, if it sent one.
	RetryAfter time.Duration
	// Err is the transport error when no response arrived.
	Err error
}

// Message returns the error text of a failed result: InfluxDB's "error"
// field when the body is its JSON error, else the transport error.
func (r Result) Message() string {
	if m := influxerr.Message(r.Body); m != "" {
		return m
	}
	if r.Err != nil {
		return r.Err.Error()
	}
	if len(r.Body) > 0 {
		return string(bytes.TrimSpace(r.Body))
	}
	return http.StatusText(r.Status)
}

// Classify maps a response (or a transport error) to a Result. It encodes
// the rules of docs/delivery.md; the table in classify_test.go is taken from
// the answers of real InfluxDB servers (INFLUXDB-FACTS.md).
func Classify(status int, body []byte, header http.Header, err error) Result {
	r := Result{Status: status, Body: body, Err: Redact(err)}
	if err != nil {
		r.Class, r.Status = Transient, 0
		switch {
		case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
			r.Reason = "timeout"
		default:
			r.Reason = "connection"
		}
		return r
	}
	msg := influxerr.Message(body)
	if msg == "" {
		msg = string(body)
	}
	has := func(s string) bool { return bytes.Contains([]byte(msg), []byte(s)) }
	switch {
	case status >= 200 && status < 300:
		r.Class, r.Reason = Accepted, "accepted"
	case status == http.StatusRequestEntityTooLarge:
		r.Class, r.Reason = TooLarge, "too_large"
	case status == http.StatusTooManyRequests:
		r.Class, r.Reason = Transient, "throttled"
		r.RetryAfter = retryAfter(header)
	case status == http.StatusBadRequest:
		r.Class = Rejected
		switch {
		case has("field type conflict"):
			r.Reason = "type_conflict"
		case has("beyond retention"):
			r.Reason = "beyond_retention"
		case has("partial write"):
			r.Reason = "partial_write"
		case has("unable to parse"):
			r.Reason = "bad_lines"
		default:
			r.Reason = "bad_request"
		}
	case status == http.StatusNotFound:
		r.Class = Mismatch
		switch {
		case has("database not found"), has("bucket") && has("not found"):
			r.Reason = "db_not_found"
		default:
			r.Reason = "not_found"
		}
	case status == http.StatusUnauthorized:
		r.Class, r.Reason = Mismatch, "unauthorized"
	case status == http.StatusForbidden:
		r.Class, r.Reason = Mismatch, "forbidden"
	case status == http.StatusMethodNotAllowed:
		r.Class, r.Reason = Mismatch, "method_not_allowed"
	case status >= 500 && has("retention policy not found"):
		// InfluxDB answers 500 for an unknown retention policy although
		// it is a schema problem, not a passing failure.
		r.Class, r.Reason = Mismatch, "rp_not_found"
	case status >= 500:
		r.Class, r.Reason = Transient, "server_error"
		r.RetryAfter = retryAfter(header)
	case status >= 400:
		r.Class, r.Reason = Rejected, "bad_request"
	default:
		r.Class, r.Reason = Transient, "unexpected_status"
	}
	return r
}

// Redact drops the query string from the URL net/http puts in its errors:
// it may hold u and p, and these errors end up in logs and on /health.
func Redact(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return ue.Err
	}
	u.RawQuery, u.User = "", nil
	return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// retryAfter parses Retry-After as seconds or an HTTP date; 0 if absent.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	// Seconds past what a Duration holds (about 292 years) would wrap to a
	// negative wait: they mean "a very long time", so they get the longest.
	if s, err := strconv.ParseInt(v, 10, 64); (err == nil || errors.Is(err, strconv.ErrRange)) && s >= 0 {
		return time.Duration(min(s, int64(math.MaxInt64/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
