package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// A backend's 5xx answer is InfluxDB's answer, not a backend failure (G4):
// when no backend answers better, the client gets the last one as the
// backend gave it, not influxgate's 503 "every backend failed". Reads still
// fall back to the next backend on a 5xx (G3), and only when no backend
// answered at all does influxgate answer 503 itself. Checked against the
// direct answer of influxd 1.8.10 with Flux; one pair of servers serves
// every case (Flux costs seconds of start-up).
func TestQueryBackendErrorAnswersPassThrough(t *testing.T) {
	t.Parallel()
	a := testinflux.Start(t, testinflux.Options{Version: testinflux.V1810, Flux: true})
	b := testinflux.Start(t, testinflux.Options{Version: testinflux.V1810, Flux: true})
	for _, s := range []*testinflux.Server{a, b} {
		s.CreateDatabase(t, "fx")
		s.Write(t, "fx", "ns", fmt.Sprintf("cpu v=7 %d\n", time.Now().Add(-time.Minute).UnixNano()))
	}
	// Fakes that inject what a real server does not do on demand: no
	// answer at all to a Flux query (garbage instead of HTTP).
	noAnswer := func(name string, s *testinflux.Server) string {
		p := newFakeFaultProxy(t, name, s.URL())
		p.set(fault{Mode: modeGarbage, Path: "/api/v2/query"})
		return p.WriteURL()
	}
	gateFor := func(t *testing.T, locations ...string) *gate {
		cfg := newConfig(t)
		cfg.HTTP[0].Outputs = nil
		for i, l := range locations {
			cfg.HTTP[0].Outputs = append(cfg.HTTP[0].Outputs, output(string(rune('a'+i)), l))
		}
		cfg.HTTP[0].Query.Strategy = "first" // the order of the candidates is the case
		cfg.ApplyDefaults()
		return startGate(t, cfg)
	}
	flux := func(base, q string) response {
		return do(t, http.MethodPost, base+"/api/v2/query", q, "Content-Type", "application/vnd.flux", "Accept", "application/csv")
	}
	missingBucket := `from(bucket:"nope/autogen") |> range(start:-1h)`
	syntaxError := `from(bucket:"fx/autogen") |> range(start:`
	valid := `from(bucket:"fx/autogen") |> range(start:2020-01-01T00:00:00Z, stop:2100-01-01T00:00:00Z) |> filter(fn:(r) => r._measurement == "cpu")`

	cases := []struct {
		name      string
		locations []string
		query     string
		backend   string // X-Influxgate-Backend of the answer
	}{
		{"both answer a missing bucket", []string{a.WriteURL(), b.WriteURL()}, missingBucket, "b"},
		{"both answer a syntax error", []string{a.WriteURL(), b.WriteURL()}, syntaxError, "b"},
		{"the first gives no answer", []string{noAnswer("a", a), b.WriteURL()}, missingBucket, "b"},
		{"the last gives no answer", []string{a.WriteURL(), noAnswer("b", b)}, missingBucket, "a"},
		{"a valid query is unchanged", []string{a.WriteURL(), b.WriteURL()}, valid, "a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := gateFor(t, c.locations...)
			got, want := flux(g.url, c.query), flux(a.URL(), c.query)
			if want.Status/100 != 2 && want.Status < 500 {
				t.Fatalf("influxd answered %d %s: not the 5xx this case is about", want.Status, want.Body)
			}
			if got.Status != want.Status || got.Body != want.Body {
				t.Errorf("influxgate: %d %q\ninfluxd:    %d %q", got.Status, got.Body, want.Status, want.Body)
			}
			for _, h := range []string{"Content-Type", "X-Influxdb-Error", "X-Influxdb-Build", "X-Influxdb-Version"} {
				if got.Header.Get(h) != want.Header.Get(h) {
					t.Errorf("%s: influxgate %q, influxd %q", h, got.Header.Get(h), want.Header.Get(h))
				}
			}
			if got.Header.Get("X-Influxgate-Backend") != c.backend {
				t.Errorf("answer from %q, want %q", got.Header.Get("X-Influxgate-Backend"), c.backend)
			}
			if want.Status >= 500 {
				// Counted as a passed answer of that backend, and not as its
				// failure; a 5xx that gave way to another's counts as one.
				m := do(t, http.MethodGet, g.url+"/metrics", "").Body
				passed := fmt.Sprintf(`influxgate_query_backend_error_answers_total{backend=%q,status="%d"} 1`, c.backend, want.Status)
				if !strings.Contains(m, passed) {
					t.Errorf("metrics lack %s:\n%s", passed, grepLines(m, "influxgate_query_backend"))
				}
				if regexp.MustCompile(fmt.Sprintf(`influxgate_query_backend_failures_total\{backend=%q\}`, c.backend)).MatchString(m) {
					t.Errorf("the passed answer counted as a failure of %s:\n%s", c.backend, grepLines(m, "influxgate_query_backend"))
				}
				if other := map[string]string{"a": "b", "b": "a"}[c.backend]; !strings.Contains(m,
					fmt.Sprintf(`influxgate_query_backend_failures_total{backend=%q} 1`, other)) {
					t.Errorf("the other backend's failure is not counted:\n%s", grepLines(m, "influxgate_query_backend"))
				}
			}
		})
	}

	// No backend answers at all: influxgate's own 503, naming why.
	g := gateFor(t, noAnswer("a", a), noAnswer("b", b))
	if r := flux(g.url, missingBucket); r.Status != http.StatusServiceUnavailable || !strings.HasPrefix(r.errText(), "every backend failed: a: ") {
		t.Errorf("no backend answering: %d %s", r.Status, r.Body)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
