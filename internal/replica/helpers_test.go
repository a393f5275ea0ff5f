package replica

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// backendOf is a client for a test server, as the output named name with
// the server's credentials.
func backendOf(t testing.TB, s *testinflux.Server, name string) *backend.Client {
	t.Helper()
	user, password := s.Credentials()
	return clientOf(t, config.OutputConfig{Name: name, Location: config.Location(s.WriteURL()), Timeout: 10 * time.Second,
		Username: user, Password: password})
}

// clientOf is a client for the output o, closed at the end of the test.
func clientOf(t testing.TB, o config.OutputConfig) *backend.Client {
	t.Helper()
	c, err := backend.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// quick retries a failed request once, soon: for tests of failures.
var quick = Requests{Attempts: 2, Backoff: 10 * time.Millisecond}

// dataBase is the first hour of the test data: recent enough for the
// seven-day retention policy, aligned on an hour.
var dataBase = time.Now().Add(-40 * time.Hour).Truncate(time.Hour)

// ts is the timestamp of hour h, second s of the test data, in ns.
func ts(h, s int) int64 {
	return dataBase.Add(time.Duration(h)*time.Hour + time.Duration(s)*time.Second).UnixNano()
}

// seed writes the test data set to s: every field type with values that
// are hard to carry over exactly (floats like 0.1 and 1e-300, integers at
// the ends of int64, strings with quotes, commas, backslashes and a
// newline), tags and names that need escaping, sparse fields, two
// retention policies of which one is not the default, and a second
// database whose default policy is not autogen.
func seed(t testing.TB, s *testinflux.Server) {
	t.Helper()
	s.CreateDatabase(t, "db")
	s.Exec(t, `CREATE RETENTION POLICY "week" ON "db" DURATION 7d REPLICATION 1 SHARD DURATION 1d`)
	s.Exec(t, `CREATE DATABASE "other" WITH DURATION 30d REPLICATION 1 SHARD DURATION 2h NAME "month"`)
	var lines []string
	floats := []string{"0.1", "1e-300", "1.5", "-2.5e+30", "3", "0.30000000000000004", "1.7976931348623157e+308", "-0"}
	ints := []string{"9223372036854775807i", "-9223372036854775808i", "0i", "42i", "-1i"}
	strs := []string{`"plain"`, `"with \"quotes\", commas and a \\ backslash"`, "\"line one\nline two\"", `""`, `"trailing \\"`}
	for h := 0; h < 30; h++ {
		for k := 0; k < 6; k++ {
			n := h*6 + k
			sec := k * 577
			lines = append(lines,
				fmt.Sprintf("cpu,host=web\\ %d,region=eu\\,west,k\\=x=v\\=1 f=%s,i=%s,s=%s,b=%t %d",
					n%3, floats[n%len(floats)], ints[n%len(ints)], strs[n%len(strs)], n%2 == 0, ts(h, sec)),
				fmt.Sprintf("cpu,host=db f=%d.25,i=%di %d", n, n, ts(h, sec+1)))
			if k%2 == 0 { // sparse: some points have only one field
				lines = append(lines, fmt.Sprintf("mem,host=a used=%di %d", n*1000, ts(h, sec)))
			} else {
				lines = append(lines, fmt.Sprintf("mem,host=a used=%di,free=%g %d", n*1000, float64(n)/7, ts(h, sec)))
			}
			lines = append(lines, fmt.Sprintf("disk\\ io\\,x,dev=sda ops=%di,busy=%t %d", n, n%3 == 0, ts(h, sec+2)))
		}
	}
	s.Write(t, "db", "n", strings.Join(lines, "\n"))
	lines = lines[:0]
	for h := 5; h < 25; h++ {
		lines = append(lines, fmt.Sprintf("cpu,host=week f=%d.5,note=\"w%d\" %d", h, h, ts(h, 30)))
		lines = append(lines, fmt.Sprintf("events,kind=deploy id=%di,ok=true %d", h, ts(h, 99)))
	}
	writeRP(t, s, "db", "week", strings.Join(lines, "\n"))
	lines = lines[:0]
	for h := 0; h < 12; h++ {
		lines = append(lines, fmt.Sprintf("temp,room=k\\ 1 c=%g %d", 20+float64(h)/3, ts(h, 7)))
	}
	s.Write(t, "other", "n", strings.Join(lines, "\n"))
}

// writeRP writes line protocol (ns) into db.rp.
func writeRP(t testing.TB, s *testinflux.Server, db, rp, body string) {
	t.Helper()
	if err := backendOf(t, s, "w").WriteLines(context.Background(), db, rp, []byte(body)); err != nil {
		t.Fatal(err)
	}
}

// allPoints is every point of the test databases, for point-for-point
// comparison.
func allPoints(t testing.TB, s *testinflux.Server) []string {
	t.Helper()
	var out []string
	for _, db := range []string{"db", "other"} {
		for _, p := range s.Points(t, db) {
			out = append(out, db+": "+p)
		}
	}
	return out
}

// samePoints fails the test unless a and b hold the same points.
func samePoints(t testing.TB, a, b *testinflux.Server) {
	t.Helper()
	pa, pb := allPoints(t, a), allPoints(t, b)
	if len(pa) == 0 {
		t.Fatal("the source has no points")
	}
	if !slices.Equal(pa, pb) {
		var diff []string
		for _, p := range pa {
			if !slices.Contains(pb, p) {
				diff = append(diff, "- "+p)
			}
		}
		for _, p := range pb {
			if !slices.Contains(pa, p) {
				diff = append(diff, "+ "+p)
			}
		}
		t.Fatalf("replicas differ (%d vs %d points):\n%s", len(pa), len(pb), strings.Join(diff[:min(len(diff), 20)], "\n"))
	}
}

// eachVersion runs f against every influxd version.
func eachVersion(t *testing.T, f func(t *testing.T, v testinflux.Version)) {
	for _, v := range []testinflux.Version{testinflux.V167, testinflux.V1810} {
		t.Run(string(v), func(t *testing.T) { f(t, v) })
	}
}

// recorder is a Progress that records the buckets of the "copy" phase
// (re-copies of a later comparison pass apart) and can cancel the run
// after a number of them.
type recorder struct {
	nopProgress
	mu       sync.Mutex
	phase    string
	buckets  []Bucket
	recopied []Bucket
	points   int64
	cancel   func()
	after    int
}

func (r *recorder) Start(phase string, _ int64) {
	r.mu.Lock()
	r.phase = phase
	r.mu.Unlock()
}

func (r *recorder) Add(n int64) {
	r.mu.Lock()
	r.points += n
	r.mu.Unlock()
}

func (r *recorder) BucketDone(b Bucket) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.phase == "re-copy" {
		r.recopied = append(r.recopied, b)
		return
	}
	r.buckets = append(r.buckets, b)
	if r.cancel != nil && len(r.buckets) == r.after {
		r.cancel()
	}
}
