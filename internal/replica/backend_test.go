package replica

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
)

// fakeBackend answers /query and /write with handler and returns a Backend
// for it.
func fakeBackend(t *testing.T, handler http.HandlerFunc, opts BackendOptions) *Backend {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	b, err := NewBackend(config.OutputConfig{Name: "f", Location: srv.URL + "/write"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func TestBackendRetriesTransientFailures(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int // answers in order; the last repeats
		calls    int32
		wantErr  string
	}{
		{"503 then success", []int{503, 200}, 2, ""},
		{"429 then success", []int{429, 200}, 2, ""},
		{"5xx every time", []int{500}, 3, "HTTP 500: boom"},
		{"400 is not retried", []int{400}, 1, "HTTP 400: boom"},
		{"401 is not retried", []int{401}, 1, "HTTP 401: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			b := fakeBackend(t, func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1)) - 1
				st := tt.statuses[min(n, len(tt.statuses)-1)]
				w.WriteHeader(st)
				if st == 200 {
					fmt.Fprint(w, `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["db"],["_internal"]]}]}]}`)
				} else {
					fmt.Fprint(w, `{"error":"boom"}`)
				}
			}, BackendOptions{Attempts: 3, Backoff: time.Millisecond})
			dbs, err := b.databases(context.Background())
			if calls.Load() != tt.calls {
				t.Errorf("%d requests, want %d", calls.Load(), tt.calls)
			}
			if tt.wantErr == "" {
				if err != nil || len(dbs) != 1 || dbs[0] != "db" {
					t.Errorf("databases = %v, %v", dbs, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "backend f (http://") {
				t.Errorf("error %v, want one naming the backend and %q", err, tt.wantErr)
			}
		})
	}
}

// An answer InfluxDB could not encode (a float sum of +Inf) is not JSON;
// it is reported, not retried.
func TestBackendUnreadableAnswer(t *testing.T) {
	var calls atomic.Int32
	b := fakeBackend(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		fmt.Fprint(w, "json: error calling MarshalJSON for type httpd.Response: json: unsupported value: +Inf")
	}, BackendOptions{Attempts: 3, Backoff: time.Millisecond})
	_, err := b.query(context.Background(), "db", "SELECT sum(*) FROM m")
	var ae answerError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "unsupported value") || calls.Load() != 1 {
		t.Errorf("error %v after %d requests; want an answer error after one", err, calls.Load())
	}
}

// The query timeout bounds each wait for the server, not the time the
// caller spends on the rows (writing them, waiting for the rate limiter).
func TestChunkedQueryTimeoutCountsOnlyTheServer(t *testing.T) {
	chunk := `{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[1,1]]}]}]}` + "\n"
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	b := fakeBackend(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.FormValue("q") // before answering: the body is gone after
		fmt.Fprint(w, chunk)
		w.(http.Flusher).Flush()
		if q == "stall" {
			select { // headers and one chunk, then nothing
			case <-stall:
			case <-r.Context().Done():
			}
			return
		}
		fmt.Fprint(w, chunk)
	}, BackendOptions{QueryTimeout: 50 * time.Millisecond, Attempts: 1})

	n := 0
	err := b.queryChunked(context.Background(), "db", "slow reader", 1, func(series) error {
		n++
		time.Sleep(150 * time.Millisecond) // three times the timeout, outside the server's time
		return nil
	})
	if err != nil || n != 2 {
		t.Errorf("slow reader: %v after %d chunks", err, n)
	}

	err = b.queryChunked(context.Background(), "db", "stall", 1, func(series) error { return nil })
	var be *Error
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Errorf("stalled server: %v", err)
	}
}

func TestNewBackendLocations(t *testing.T) {
	tests := []struct{ loc, base, err string }{
		{"http://h:8086/write", "http://h:8086", ""},
		{"https://h/influx/write?db=x", "https://h/influx", ""},
		{"http://h:8086/api/v2/write", "http://h:8086", ""},
		{"http://h:8086/api/v2/write/", "http://h:8086", ""},
		{"http://h:8086/", "", "ends neither"},
		{"h:8086", "", "not an http(s) URL"},
	}
	for _, tt := range tests {
		b, err := NewBackend(config.OutputConfig{Name: "x", Location: tt.loc}, BackendOptions{})
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: error %v, want %q", tt.loc, err, tt.err)
		case tt.err == "" && (err != nil || b.BaseURL != tt.base):
			t.Errorf("%s: base %v %v, want %s", tt.loc, b, err, tt.base)
		}
	}
}
