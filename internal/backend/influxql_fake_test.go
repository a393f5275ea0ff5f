package backend

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
)

// Tests of the operator's InfluxQL methods with fakes, for what a real
// influxd does not do on demand: stall mid-answer, serve TLS with a
// certificate of the test's own, answer from behind a proxy path.

// The idle bound of QueryChunked counts each wait for the server, not the
// time fn spends on the rows (writing them, waiting for a rate limiter).
// The fake answers with one chunk and then, for "stall", nothing.
func TestQueryChunkedIdleCountsOnlyTheServer(t *testing.T) {
	chunk := `{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[1,1]]}]}]}` + "\n"
	stall := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.FormValue("q") // before answering: the body is gone after
		fmt.Fprint(w, chunk)
		w.(http.Flusher).Flush()
		if q == "stall" {
			select { // headers and one chunk, then nothing for a while
			case <-stall:
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
			return
		}
		fmt.Fprint(w, chunk)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stall) })
	c := clientFor(t, config.OutputConfig{Location: config.Location(srv.URL + "/write")})

	n := 0
	err := c.QueryChunked(context.Background(), "db", "slow reader", 1, 50*time.Millisecond, func(Series) error {
		n++
		time.Sleep(150 * time.Millisecond) // three times the bound, outside the server's time
		return nil
	})
	if err != nil || n != 2 {
		t.Errorf("slow reader: %v after %d chunks", err, n)
	}

	err = c.QueryChunked(context.Background(), "db", "stall", 1, 50*time.Millisecond, func(Series) error { return nil })
	be := wantError(t, "stalled server", err, 0, Transient, "timeout", "no answer within 50ms")
	if be != nil && !strings.Contains(err.Error(), "backend b (http://127.0.0.1:") {
		t.Errorf("error %v does not name the backend", err)
	}
}

// The operator's requests go to /query under the location's base: the
// path before /write or /api/v2/write, behind a proxy prefix too; String
// names the backend without user information from the location.
func TestQueryLocations(t *testing.T) {
	paths := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths <- r.URL.Path
		fmt.Fprint(w, `{"results":[{"statement_id":0}]}`)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tt := range []struct{ loc, query, name string }{
		{srv.URL + "/write", "/query", "b (" + srv.URL + ")"},
		{srv.URL, "/query", "b (" + srv.URL + ")"},
		{srv.URL + "/influx/write", "/influx/query", "b (" + srv.URL + "/influx)"},
		{srv.URL + "/api/v2/write", "/query", "b (" + srv.URL + ")"},
		{"http://svc:pw@" + host + "/write", "/query", "b (" + srv.URL + ")"},
	} {
		c := clientFor(t, config.OutputConfig{Location: config.Location(tt.loc)})
		if err := c.ExecStatement(context.Background(), "", "CREATE DATABASE x"); err != nil {
			t.Errorf("%s: %v", tt.loc, err)
			continue
		}
		if p := <-paths; p != tt.query || c.String() != tt.name {
			t.Errorf("%s: asked %s, named %q; want %s, %q", tt.loc, p, c.String(), tt.query, tt.name)
		}
	}
	for _, loc := range []string{"h:8086", "/write", "ftp://h/write"} {
		if _, err := New(config.OutputConfig{Name: "x", Location: config.Location(loc)}); err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
			t.Errorf("%s: error %v, want one saying it is not an http(s) URL", loc, err)
		}
	}
}

// An https backend is verified as the relay's writes are (TLSConfig):
// against a ca-file, or not at all with skip-tls-verification; a
// certificate that cannot be verified is a failure.
func TestQueryOverTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["db"]]}]}]}`)
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, o := range []config.OutputConfig{
		{Name: "ca-file", Location: config.Location(srv.URL + "/write"), CAFile: ca},
		{Name: "skip", Location: config.Location(srv.URL + "/write"), SkipTLSVerification: true},
	} {
		res, err := clientFor(t, o).Query(context.Background(), "", "SHOW DATABASES")
		if err != nil || len(res.Series) != 1 {
			t.Errorf("%s: %+v, %v", o.Name, res, err)
		}
	}
	_, err := clientFor(t, config.OutputConfig{Location: config.Location(srv.URL + "/write")}).Query(context.Background(), "", "SHOW DATABASES")
	var be *Error
	if !errors.As(err, &be) || be.Status != 0 || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unknown certificate: %v", err)
	}
}
