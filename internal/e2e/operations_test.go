package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

func TestHealthVerboseIsTextWithTheSameStatus(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	g.mustWrite(t, "db=db", "cpu v=1 1")
	g.waitCaughtUp(t, 10*time.Second)
	b.Stop(t)
	deadline := time.Now().Add(20 * time.Second)
	for i := 2; ; i++ {
		g.mustWrite(t, "db=db", fmt.Sprintf("cpu v=1 %d", i))
		if _, h := g.health(t); h.Checks[1].State == "down" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b not down")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, q := range []string{"?verbose", "?verbose=true", "?verbose=1"} {
		r := do(t, http.MethodGet, g.url+"/health"+q, "")
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("/health%s: %d %s", q, r.Status, r.Header.Get("Content-Type"))
		}
		for _, want := range []string{"PASS: accepting writes", "1 of 2 backends live", "BACKEND", "connection refused"} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("/health%s lacks %q:\n%s", q, want, r.Body)
			}
		}
		var rowB string
		for _, line := range strings.Split(r.Body, "\n") {
			if strings.HasPrefix(line, "b ") {
				rowB = line
			}
		}
		if f := strings.Fields(rowB); len(f) < 3 || f[1] != "fail" || f[2] != "down" {
			t.Errorf("/health%s row of b: %q, want check fail, state down", q, rowB)
		}
	}
	if r := do(t, http.MethodGet, g.url+"/health?verbose=false", ""); !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("/health?verbose=false: %s, want the JSON", r.Header.Get("Content-Type"))
	}
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	t.Parallel()
	a := testinflux.Start(t, testinflux.Options{})
	off := startGate(t, newConfig(t, a))
	cfg := newConfig(t, a)
	cfg.Debug.PProf = true
	on := startGate(t, cfg)
	if r := do(t, http.MethodGet, off.url+"/debug/pprof/", ""); r.Status != http.StatusNotFound {
		t.Errorf("pprof off: /debug/pprof/ answered %d, want 404", r.Status)
	}
	if r := do(t, http.MethodGet, on.url+"/debug/pprof/goroutine?debug=1", ""); r.Status != http.StatusOK || !strings.Contains(r.Body, "goroutine profile") {
		t.Errorf("pprof on: %d %.200s", r.Status, r.Body)
	}
	// The status page is at exactly "/" and shadows nothing.
	for path, want := range map[string]int{"/": 200, "/status": 200, "/status.json": 200, "/nope": 404, "/ping": 204} {
		if r := do(t, http.MethodGet, on.url+path, ""); r.Status != want {
			t.Errorf("GET %s: %d, want %d", path, r.Status, want)
		}
	}
}
