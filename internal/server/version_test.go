package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// runServer starts influxgate in front of the given write URLs and
// returns its base URL; it stops at cleanup.
func runServer(t *testing.T, locations ...string) (*Server, string) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	hc := config.HTTPConfig{Name: "http", BindAddr: "127.0.0.1:0"}
	for i, loc := range locations {
		hc.Outputs = append(hc.Outputs, config.OutputConfig{Name: string(rune('a' + i)), Location: config.Location(loc), Timeout: time.Second})
	}
	cfg.HTTP = []config.HTTPConfig{hc}
	cfg.ApplyDefaults()
	s, err := New(&cfg, Options{Version: "9.9.9-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s, "http://" + s.Addrs()[0]
}

func pingVersion(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("X-Influxdb-Version")
}

// waitVersion waits until influxgate shows want as X-Influxdb-Version.
func waitVersion(t *testing.T, url, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := pingVersion(t, url)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("X-Influxdb-Version is %q after %v, want %q", got, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Clients see the X-Influxdb-Version real influxd gives them directly,
// "unknown" included (1.8.10 built with go install has no version
// information and says so), never influxgate's own version.
func TestVersionHeaderIsTheBackendsOwn(t *testing.T) {
	for _, v := range []testinflux.Version{testinflux.V167, testinflux.V1810} {
		t.Run(string(v), func(t *testing.T) {
			t.Parallel()
			db := testinflux.Start(t, testinflux.Options{Version: v})
			direct := pingVersion(t, db.URL())
			t.Logf("influxd %s answers X-Influxdb-Version: %q", v, direct)
			if direct == "" {
				t.Fatalf("influxd %s sends no X-Influxdb-Version", v)
			}
			s, url := runServer(t, db.WriteURL())
			// Wait for the probe, so that "unknown" from the backend is
			// told apart from "unknown" before any backend answered.
			deadline := time.Now().Add(10 * time.Second)
			for s.backendVersion.Load().(string) == "" {
				if time.Now().After(deadline) {
					t.Fatal("no backend version learned within 10s")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got := pingVersion(t, url); got != direct {
				t.Errorf("influxgate shows X-Influxdb-Version %q, influxd %s shows %q", got, v, direct)
			}
			if got := pingVersion(t, url); got == "9.9.9-test" {
				t.Errorf("X-Influxdb-Version is influxgate's own version")
			}
		})
	}
}

// fakeVersionBackend is a fake InfluxDB (a real one cannot change its
// version or refuse pings on demand): /ping answers 503 until up is set,
// then 204 with the given X-Influxdb-Version; writes are accepted.
func fakeVersionBackend(t *testing.T, version string, up *atomic.Bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" && !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("X-Influxdb-Version", version)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Before any backend answered a ping, X-Influxdb-Version is "unknown"
// (influxgate's version is in X-Influxgate-Version); the first backend to
// answer gives its value, learned within seconds of it coming up, even
// when the first output is unreachable.
func TestVersionHeaderBeforeAndAfterABackendAnswers(t *testing.T) {
	t.Parallel()
	var up atomic.Bool
	fake := fakeVersionBackend(t, "1.7.99-fake", &up)
	_, url := runServer(t, "http://127.0.0.1:1/write", fake.URL+"/write")

	resp, err := http.Get(url + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, own := resp.Header.Get("X-Influxdb-Version"), resp.Header.Get("X-Influxgate-Version"); got != "unknown" || own != "9.9.9-test" {
		t.Errorf("before any backend answered: X-Influxdb-Version %q, X-Influxgate-Version %q; want unknown, 9.9.9-test", got, own)
	}
	time.Sleep(100 * time.Millisecond) // the probe at start has failed by now
	up.Store(true)
	waitVersion(t, url, "1.7.99-fake", 7*time.Second) // probes retry every 2 s until one answers

	// ?verbose=true gives the same version in its body.
	resp, err = http.Get(url + "/ping?verbose=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Version string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Version != "1.7.99-fake" {
		t.Errorf("/ping?verbose=true: version %q (%v), want 1.7.99-fake", body.Version, err)
	}
}

// Every answer carries InfluxDB's common headers, one value each, with
// the same request ID twice; a handler that adds to one of them must not
// change another (they share one array).
func TestCommonHeaders(t *testing.T) {
	s := &Server{}
	s.opts.Version = "9.9.9-test"
	h := s.commonHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("X-Influxdb-Build", "extra")
		w.WriteHeader(http.StatusNoContent)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ping", nil))
	got := rec.Result().Header
	id := got.Values("Request-Id")
	if len(id) != 1 || len(id[0]) != 36 || !slices.Equal(got.Values("X-Request-Id"), id) {
		t.Errorf("Request-Id %q, X-Request-Id %q", id, got.Values("X-Request-Id"))
	}
	if v := got.Values("X-Influxdb-Version"); !slices.Equal(v, []string{"unknown"}) {
		t.Errorf("X-Influxdb-Version %q", v)
	}
	if v := got.Values("X-Influxgate-Version"); !slices.Equal(v, []string{"9.9.9-test"}) {
		t.Errorf("X-Influxgate-Version %q", v)
	}
	if v := got.Values("X-Influxdb-Build"); !slices.Equal(v, []string{"OSS", "extra"}) {
		t.Errorf("X-Influxdb-Build %q", v)
	}
}
