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

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/config"
)

// fakeServer is a fault-injecting fake backend: handler answers /query and
// /write as a real server cannot on demand (5xx, 429, no JSON). It returns
// the server as replica reaches it.
func fakeServer(t *testing.T, handler http.HandlerFunc, req Requests) *server {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	req.defaults()
	return newServer(clientOf(t, config.OutputConfig{Name: "f", Location: config.Location(srv.URL + "/write")}), 2, req)
}

func TestServerRetriesTransientFailures(t *testing.T) {
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
			s := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1)) - 1
				st := tt.statuses[min(n, len(tt.statuses)-1)]
				w.WriteHeader(st)
				if st == 200 {
					fmt.Fprint(w, `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["db"],["_internal"]]}]}]}`)
				} else {
					fmt.Fprint(w, `{"error":"boom"}`)
				}
			}, Requests{Attempts: 3, Backoff: time.Millisecond})
			dbs, err := s.databases(context.Background())
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

// An answer that is not JSON (influxd's +Inf sum, see backend's tests) is
// reported, not asked again.
func TestServerDoesNotRetryUnreadableAnswer(t *testing.T) {
	var calls atomic.Int32
	s := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		fmt.Fprint(w, "json: error calling MarshalJSON for type httpd.Response: json: unsupported value: +Inf")
	}, Requests{Attempts: 3, Backoff: time.Millisecond})
	_, err := s.query(context.Background(), "db", "SELECT sum(*) FROM m")
	var be *backend.Error
	if !errors.As(err, &be) || be.Reason != "unreadable_answer" || !strings.Contains(err.Error(), "unsupported value") || calls.Load() != 1 {
		t.Errorf("error %v after %d requests; want an unreadable answer after one", err, calls.Load())
	}
}

// A chunked read is asked again when the stream is cut, but not when the
// callback fails: its error (here a transient one, as a failed write to the
// target would be) is returned as it is after one request.
func TestChunkedQueryRetriesOnlyTheServer(t *testing.T) {
	chunk := `{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[1,1]]}]}]}` + "\n"
	var calls atomic.Int32
	s := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		w.Header().Set("Content-Length", "1000") // the first answer is cut short
		if n > 1 {
			w.Header().Set("Content-Length", fmt.Sprint(len(chunk)))
		}
		fmt.Fprint(w, chunk)
	}, Requests{Attempts: 3, Backoff: time.Millisecond})

	rows := 0
	err := s.queryChunked(context.Background(), "db", "SELECT * FROM m", 1, func(backend.Series) error { rows++; return nil })
	if err != nil || calls.Load() != 2 || rows != 2 {
		t.Errorf("cut stream: %v after %d requests and %d rows; want success on the second request", err, calls.Load(), rows)
	}

	calls.Store(1) // whole answers from now on
	failed := &backend.Error{Backend: "t", Op: "write", Status: 503, Class: backend.Transient, Err: errors.New("down")}
	err = s.queryChunked(context.Background(), "db", "SELECT * FROM m", 1, func(backend.Series) error { return failed })
	if err != failed || calls.Load() != 2 {
		t.Errorf("failing callback: %v after %d more requests; want its error after one", err, calls.Load()-1)
	}
}

// At most the concurrency bound of requests is in flight to one backend.
func TestServerBoundsConcurrency(t *testing.T) {
	var inFlight, most atomic.Int32
	s := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		fmt.Fprint(w, `{"results":[{"statement_id":0}]}`)
	}, Requests{})
	done := make(chan error)
	for range 6 {
		go func() { done <- s.exec(context.Background(), "CREATE DATABASE x") }()
	}
	for range 6 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if m := most.Load(); m != 2 {
		t.Errorf("%d requests in flight at most, want 2", m)
	}
}
