package backend

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The statuses and bodies below are what real InfluxDB servers answered
// (/work/shared/INFLUXDB-FACTS.md and the probes in internal/e2e).
func TestClassifyInfluxDBAnswers(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		hdr    http.Header
		err    error
		class  Class
		reason string
		retry  time.Duration
	}{
		{"written", 204, "", nil, nil, Accepted, "accepted", 0},
		{"ok 200", 200, "", nil, nil, Accepted, "accepted", 0},
		{"missing db param", 400, `{"error":"database is required"}`, nil, nil, Rejected, "bad_request", 0},
		{"malformed line", 400, `{"error":"unable to parse 'cpu': missing fields"}`, nil, nil, Rejected, "bad_lines", 0},
		{"partial write", 400, `{"error":"partial write: unable to parse 'cpu': missing fields dropped=0"}`, nil, nil, Rejected, "partial_write", 0},
		{"type conflict", 400, `{"error":"partial write: field type conflict: input field \"v\" on measurement \"cpu\" is type string, already exists as type float dropped=1"}`, nil, nil, Rejected, "type_conflict", 0},
		{"beyond retention", 400, `{"error":"partial write: points beyond retention policy dropped=1"}`, nil, nil, Rejected, "beyond_retention", 0},
		{"bad precision 1.8", 400, `{"error":"invalid precision \"us\" (use n, u, ms, s, m or h)"}`, nil, nil, Rejected, "bad_request", 0},
		{"bad gzip", 400, `{"error":"gzip: invalid header"}`, nil, nil, Rejected, "bad_request", 0},
		{"unknown db", 404, `{"error":"database not found: \"x\""}`, nil, nil, Mismatch, "db_not_found", 0},
		{"unknown db via v2", 404, `{"error":"database not found: \"nope\""}`, nil, nil, Mismatch, "db_not_found", 0},
		{"v2 bucket missing slash", 404, `{"error":"bucket name \"\" is missing a slash; not in \"database/retention-policy\" format"}`, nil, nil, Mismatch, "not_found", 0},
		{"v2 on 1.6", 404, "404 page not found\n", nil, nil, Mismatch, "not_found", 0},
		{"unknown rp", 500, `{"error":"retention policy not found: nope"}`, nil, nil, Mismatch, "rp_not_found", 0},
		{"no credentials", 401, `{"error":"unable to parse authentication credentials"}`, nil, nil, Mismatch, "unauthorized", 0},
		{"wrong password", 401, `{"error":"authorization failed"}`, nil, nil, Mismatch, "unauthorized", 0},
		{"read-only user", 403, `{"error":"\"ro\" user is not authorized to write to database \"x\""}`, nil, nil, Mismatch, "forbidden", 0},
		{"wrong method", 405, "Method Not Allowed\n", nil, nil, Mismatch, "method_not_allowed", 0},
		{"too large", 413, `{"error":"Request Entity Too Large"}`, nil, nil, TooLarge, "too_large", 0},
		{"throttled", 429, "", http.Header{"Retry-After": {"3"}}, nil, Transient, "throttled", 3 * time.Second},
		{"engine overloaded", 500, `{"error":"engine: cache-max-memory-size exceeded: (1073741824/1073741824)"}`, nil, nil, Transient, "server_error", 0},
		{"unavailable", 503, "", http.Header{"Retry-After": {"7"}}, nil, Transient, "server_error", 7 * time.Second},
		{"bad gateway", 502, "<html>", nil, nil, Transient, "server_error", 0},
		{"teapot", 418, "", nil, nil, Rejected, "bad_request", 0},
		{"redirect", 302, "", nil, nil, Transient, "unexpected_status", 0},
		{"timeout", 0, "", nil, context.DeadlineExceeded, Transient, "timeout", 0},
		{"refused", 0, "", nil, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, Transient, "connection", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := c.hdr
			if hdr == nil {
				hdr = http.Header{}
			}
			r := Classify(c.status, []byte(c.body), hdr, c.err)
			if r.Class != c.class || r.Reason != c.reason || r.RetryAfter != c.retry {
				t.Errorf("Classify(%d, %q) = %v/%s/%v, want %v/%s/%v", c.status, c.body, r.Class, r.Reason, r.RetryAfter, c.class, c.reason, c.retry)
			}
		})
	}
}

func TestResultMessage(t *testing.T) {
	r := Classify(404, []byte(`{"error":"database not found: \"x\""}`), http.Header{}, nil)
	if got := r.Message(); got != `database not found: "x"` {
		t.Errorf("Message() = %q", got)
	}
	r = Classify(0, nil, nil, errors.New("dial tcp: connection refused"))
	if got := r.Message(); got != "dial tcp: connection refused" {
		t.Errorf("Message() = %q", got)
	}
	r = Classify(502, []byte("bad gateway\n"), http.Header{}, nil)
	if got := r.Message(); got != "bad gateway" {
		t.Errorf("Message() = %q", got)
	}
}

// Transport errors name the URL; its query may hold u and p, which must
// never reach logs or /health.
func TestTransportErrorsDoNotCarryCredentials(t *testing.T) {
	err := &url.Error{Op: "Post", URL: "http://svc:pw@db1:8086/write?db=x&p=secret&u=admin", Err: errors.New("connection refused")}
	msg := Classify(0, nil, nil, err).Message()
	if strings.Contains(msg, "secret") || strings.Contains(msg, "pw") || !strings.Contains(msg, "db1:8086/write") ||
		!strings.Contains(msg, "connection refused") {
		t.Errorf("message %q", msg)
	}
}

func TestRetryAfterDate(t *testing.T) {
	h := http.Header{"Retry-After": {time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)}}
	if d := retryAfter(h); d < 80*time.Second || d > 91*time.Second {
		t.Errorf("retryAfter(date 90s ahead) = %v", d)
	}
	// More seconds than a Duration holds: the longest wait, never a
	// negative one (the fuzzer found 12000000000000 wrapping around).
	for _, v := range []string{"12000000000000", "99999999999999999999999"} {
		if d := retryAfter(http.Header{"Retry-After": {v}}); d < 290*365*24*time.Hour {
			t.Errorf("retryAfter(%s) = %v, want the longest", v, d)
		}
	}
	if d := retryAfter(http.Header{"Retry-After": {"soon"}}); d != 0 {
		t.Errorf("retryAfter(garbage) = %v", d)
	}
}
