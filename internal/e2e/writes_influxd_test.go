package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// compareCase is one write sent both to influxgate (in front of backends
// of some influxd version) and straight to a reference influxd of the same
// version: the answers must be the same, byte for byte.
type compareCase struct {
	name   string
	target string
	body   func() string // built just before sending (a case may need the clock)
	// v18 marks a case for influxd 1.8.10 only (the 2.x write API).
	v18 bool
	// status is what both must answer, as a check that the case tests
	// what it says.
	status int
}

func fixed(s string) func() string { return func() string { return s } }

// Issue 12, items 6 and 8: influxgate answers these writes as influxd
// answers the same bytes — lines it stamped are quoted as the client sent
// them, a bucket without a database is refused, and more than 10,000 query
// parameters still name the database — for influxd 1.6.7 and 1.8.10.
//
// Not parallel with other tests: its six influxd would slow down the
// timing-sensitive ones (TestHostileQueries' 2 s output timeout).
func TestWriteAnswersMatchInfluxDB(t *testing.T) {
	hour := func() int64 { return time.Now().Unix() / 3600 }
	many := strings.Repeat("x=1&", 10_001)
	cases := []compareCase{
		{name: "one bad line", target: "/write?db=db", body: fixed("cpu v=1,v2="), status: 400},
		{name: "several bad lines and good ones", target: "/write?db=db",
			body: fixed("cpu v=1,v2=\ncpu v=2\n  cpu v=3,v4=\nbad\n\tcpu v=5,v6= \n"), status: 400},
		{name: "every line stamped, one bad", target: "/write?db=db", body: fixed("cpu v=7\ncpu v=\n"), status: 400},
		{name: "precision s", target: "/write?db=db&precision=s", body: fixed("cpu v=1,v2=\nbad2"), status: 400},
		{name: "precision ns", target: "/write?db=db&precision=ns", body: fixed("cpu v=1,v2=\nbad2"), status: 400},
		{name: "CRLF", target: "/write?db=db", body: fixed("cpu v=1\r\ncpu v=2\r\n"), status: 400},
		// The stamp in precision h is the current hour: a client line
		// carrying it keeps it in the answer.
		{name: "a client line with the stamp's timestamp", target: "/write?db=db&precision=h",
			body: func() string { return fmt.Sprintf("cpu v=1,v2= %d\ncpu v=1,v2=\ncpu v=9 %d\n", hour(), hour()) }, status: 400},
		{name: "field type conflict", target: "/write?db=db", body: fixed("ftc v=1.5 1\nftc v=2.5\n"), status: 400},
		{name: "field type conflict and a bad line", target: "/write?db=db", body: fixed("ftc v=1.5 1\nftc v=\n"), status: 400},
		{name: "v2 bad line", target: "/api/v2/write?bucket=db&precision=s", body: fixed("cpu v=1,v2=\ncpu v=3\n"), v18: true, status: 400},
		{name: "v2 bucket without database", target: "/api/v2/write?bucket=/autogen", body: fixed("cpu v=1\n"), v18: true, status: 404},
		{name: "v2 bucket of a slash", target: "/api/v2/write?bucket=/", body: fixed("cpu v=1\n"), v18: true, status: 404},
		{name: "v2 bucket with an empty rp", target: "/api/v2/write?bucket=db/", body: fixed("v2emptyrp v=1 1\n"), v18: true, status: 204},
		{name: "over 10,000 parameters", target: "/write?" + many + "db=db", body: fixed("many v=1 1\n"), status: 204},
		{name: "over 10,000 parameters, v2", target: "/api/v2/write?" + many + "bucket=db", body: fixed("many2 v=1 1\n"), v18: true, status: 204},
	}
	for _, v := range []testinflux.Version{testinflux.V167, testinflux.V1810} {
		t.Run(string(v), func(t *testing.T) {
			t.Parallel()
			a := testinflux.Start(t, testinflux.Options{Version: v})
			b := testinflux.Start(t, testinflux.Options{Version: v})
			ref := testinflux.Start(t, testinflux.Options{Version: v})
			for _, s := range []*testinflux.Server{a, b, ref} {
				s.CreateDatabase(t, "db")
				s.Write(t, "db", "", "ftc v=1i 1\n") // for the type conflicts
			}
			g := startGate(t, newConfig(t, a, b))
			gateAddr := strings.TrimPrefix(g.url, "http://")
			for _, c := range cases {
				if c.v18 && v != testinflux.V1810 {
					continue
				}
				var got, want rawAnswer
				for range 3 { // again if the hour turned during the case
					h := hour()
					body := []byte(c.body())
					want = rawRequest(t, ref.Addr(), http.MethodPost, c.target, nil, body, false)
					got = rawRequest(t, gateAddr, http.MethodPost, c.target, nil, body, false)
					if hour() == h {
						break
					}
				}
				if want.Status != c.status {
					t.Errorf("%s: influxd answered %d %s, the case expects %d", c.name, want.Status, short(want.Body), c.status)
				}
				if got.Status != want.Status || !bytes.Equal(got.Body, want.Body) ||
					got.Headers["X-Influxdb-Error"] != want.Headers["X-Influxdb-Error"] {
					t.Errorf("%s:\n influxgate %d %s (X-Influxdb-Error %q)\n    influxd %d %s (X-Influxdb-Error %q)", c.name,
						got.Status, short(got.Body), got.Headers["X-Influxdb-Error"],
						want.Status, short(want.Body), want.Headers["X-Influxdb-Error"])
				}
			}
			// What influxd stored, influxgate delivered to both backends.
			g.waitCaughtUp(t, 30*time.Second)
			for _, m := range []string{"cpu", "ftc", "many", "many2", "v2emptyrp"} {
				want := ref.Count(t, "db", m)
				for _, s := range []*testinflux.Server{a, b} {
					if got := s.Count(t, "db", m); got != want {
						t.Errorf("%s: %s holds %d points, the reference %d", m, s.URL(), got, want)
					}
				}
			}
		})
	}
}

// Issue 12, item 8: max-body-size = 0 means no limit of influxgate's own,
// as documented (it meant 25,000,000 bytes): a 30 MB body is accepted
// and delivered (a backend at InfluxDB's default limit gets it in halves).
// Not parallel with other tests, for the CPU its 30 MB take.
func TestBodyLimitZeroMeansNoLimit(t *testing.T) {
	a, b := twoBackends(t, "db")
	cfg := newConfig(t, a, b)
	cfg.MaxBodySize = 0
	g := startGate(t, cfg)
	value := strings.Repeat("x", 20_000)
	var body strings.Builder
	lines := 0
	for body.Len() <= 30_000_000 {
		fmt.Fprintf(&body, "big,n=%d s=%q %d\n", lines, value, lines+1)
		lines++
	}
	if r := g.write(t, "db=db", gzipped(t, body.String()), "Content-Encoding", "gzip"); r.Status != http.StatusNoContent {
		t.Fatalf("30 MB body with max-body-size = 0: %d %s", r.Status, clip(r.Body))
	}
	g.waitCaughtUp(t, time.Minute)
	for _, s := range []*testinflux.Server{a, b} {
		if n := s.Count(t, "db", "big"); n != lines {
			t.Errorf("%s holds %d points, want %d", s.URL(), n, lines)
		}
	}
}
