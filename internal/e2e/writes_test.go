package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// twoBackends starts two Debian influxd 1.6.7 with database db on both.
func twoBackends(t *testing.T, db string) (*testinflux.Server, *testinflux.Server) {
	t.Helper()
	a := testinflux.Start(t, testinflux.Options{})
	b := testinflux.Start(t, testinflux.Options{})
	if db != "" {
		a.CreateDatabase(t, db)
		b.CreateDatabase(t, db)
	}
	return a, b
}

func TestWriteReachesEveryBackendByteForByte(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	body := "cpu,host=a,region=eu\\ west usage=0.5,count=3i,ok=true,msg=\"x, y\\\"z\" 1700000000000000000\n" +
		"cpu,host=b usage=1.5 1700000000000000001\n" +
		"# a comment\n\n" +
		"mem free=42i 1700000000000000002"
	r := g.write(t, "db=db", body)
	if r.Status != http.StatusNoContent || r.Body != "" {
		t.Fatalf("write: %d %q", r.Status, r.Body)
	}
	for _, h := range []string{"X-Influxdb-Version", "X-Influxdb-Build", "Request-Id"} {
		if r.Header.Get(h) == "" {
			t.Errorf("answer lacks %s", h)
		}
	}
	// The 204 follows the first backend's acceptance; the other may still
	// be receiving the write.
	g.waitCaughtUp(t, 10*time.Second)
	samePoints(t, "db", []string{
		`cpu,host=a,region=eu\ west count=3i,msg="x, y\"z",ok=true,usage=0.5 1700000000000000000`,
		`cpu,host=b usage=1.5 1700000000000000001`,
		`mem free=42i 1700000000000000002`,
	}, a, b)
}

// Lines without a timestamp are stamped once, at receipt, with the
// request's precision: both replicas store the same time.
func TestStampedTimestampsAreIdenticalInEveryPrecision(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	units := map[string]time.Duration{"": time.Nanosecond, "n": time.Nanosecond, "ns": time.Nanosecond, "u": time.Microsecond,
		"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour}
	for p, unit := range units {
		before := time.Now().Truncate(unit)
		g.mustWrite(t, "db=db&precision="+p, fmt.Sprintf("stamp,p=%s v=1\nstamp,p=%s v=2\n", p+"_", p+"_"))
		after := time.Now()
		g.waitCaughtUp(t, 10*time.Second)
		pts := identical(t, "db", a, b)
		var times []int64
		for _, pt := range pts {
			if strings.HasPrefix(pt, "stamp,p="+p+"_ ") {
				var ts int64
				fmt.Sscan(pt[strings.LastIndexByte(pt, ' ')+1:], &ts)
				times = append(times, ts)
			}
		}
		// Two lines with the same series and the same stamp are one point.
		if len(times) != 1 {
			t.Fatalf("precision %q: %d points, want 1 (both lines share one stamp): %v", p, len(times), pts)
		}
		ts := time.Unix(0, times[0])
		if ts.Before(before) || ts.After(after) || ts.UnixNano()%int64(unit) != 0 {
			t.Errorf("precision %q: stamped %v, want a multiple of %v in [%v, %v]", p, ts, unit, before, after)
		}
	}
	// Lines with a timestamp in a coarse precision are stored at that time.
	g.mustWrite(t, "db=db&precision=s", "coarse v=1 1700000000\n")
	g.waitCaughtUp(t, 10*time.Second)
	if got := a.Query(t, "db", "SELECT v FROM coarse").Results[0].Series[0].Values[0][0]; fmt.Sprint(got) != "1700000000000000000" {
		t.Errorf("precision=s stored at %v", got)
	}
}

func TestOneBackendDownStillAcceptsWrites(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	b.Stop(t)
	g.mustWrite(t, "db=db", "cpu v=1 1\n")
	samePoints(t, "db", []string{"cpu v=1 1"}, a)
}

func TestBadInputGetsInfluxDBsAnswer(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		errText                  string
	}{
		{"missing db", "POST", "/write", "cpu v=1", nil, 400, "database is required"},
		{"bad precision", "POST", "/write?db=db&precision=us", "cpu v=1", nil, 400, `invalid precision "us" (use n, u, ms, s, m or h)`},
		{"bad v2 precision", "POST", "/api/v2/write?bucket=db&precision=h", "cpu v=1", nil, 400, `invalid precision "h" (use ns, us, ms or s)`},
		{"bad consistency", "POST", "/write?db=db&consistency=bogus", "cpu v=1", nil, 400, "invalid consistency level"},
		{"v2 without bucket", "POST", "/api/v2/write", "cpu v=1", nil, 404, `bucket name "" is missing a slash; not in "database/retention-policy" format`},
		{"malformed line", "POST", "/write?db=db", "cpu", nil, 400, "unable to parse 'cpu': missing fields"},
		{"partial write", "POST", "/write?db=db", "good v=1 1\ncpu", nil, 400, "partial write: unable to parse 'cpu': missing fields dropped=0"},
		{"unknown database", "POST", "/write?db=nope", "cpu v=1", nil, 404, `database not found: "nope"`},
		{"plain body sent as gzip", "POST", "/write?db=db", "cpu v=1 and more bytes", []string{"Content-Encoding", "gzip"}, 400, "gzip: invalid header"},
		{"truncated gzip", "POST", "/write?db=db", gzipped(t, "cpu v=1 1\n")[:15], []string{"Content-Encoding", "gzip"}, 400, "unexpected EOF"},
		{"unstampable line", "POST", "/write?db=db", "odd s=\"x\"\\\n", nil, 400,
			"unable to stamp 1 line(s) without a timestamp: no timestamp can be added without changing them (a string field followed by a trailing backslash, or a newline inside the line); send these lines with a timestamp"},
		// real influxd answers 204 and stamps it itself; a stamp before its
		// '\n' makes it "point is invalid"
		{"unstampable line with a newline of its own", "POST", "/write?db=db", " =\" 0=\"\" \n0", nil, 400,
			"unable to stamp 1 line(s) without a timestamp: no timestamp can be added without changing them (a string field followed by a trailing backslash, or a newline inside the line); send these lines with a timestamp"},
	}
	for _, c := range cases {
		r := do(t, c.method, g.url+c.path, c.body, c.hdr...)
		if r.Status != c.status || r.errText() != c.errText || r.Header.Get("X-Influxdb-Error") != c.errText ||
			r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: got %d %q (X-Influxdb-Error %q), want %d %q", c.name, r.Status, r.Body,
				r.Header.Get("X-Influxdb-Error"), c.status, c.errText)
		}
	}
	// Wrong method: 405 with Allow, as InfluxDB.
	r := do(t, "GET", g.url+"/write?db=db", "")
	if r.Status != 405 || r.Header.Get("Allow") != "OPTIONS, POST" {
		t.Errorf("GET /write: %d Allow=%q", r.Status, r.Header.Get("Allow"))
	}
	// The good line of the partial write is stored on both, as InfluxDB does.
	g.waitCaughtUp(t, 10*time.Second)
	samePoints(t, "db", []string{"good v=1 1"}, a, b)
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	cfg := newConfig(t, a, b)
	cfg.MaxBodySize = 1000
	g := startGate(t, cfg)
	big := strings.Repeat("cpu v=1 1\n", 101)
	if r := g.write(t, "db=db", big); r.Status != 413 || r.errText() != "Request Entity Too Large" {
		t.Errorf("plain over the limit: %d %s", r.Status, r.Body)
	}
	// The limit applies after decompression: a small gzip body that expands
	// past it is refused too.
	if r := g.write(t, "db=db", gzipped(t, big), "Content-Encoding", "gzip"); r.Status != 413 {
		t.Errorf("gzip over the limit: %d %s", r.Status, r.Body)
	}
	g.mustWrite(t, "db=db", "small v=1 1\n")
	g.waitCaughtUp(t, 10*time.Second)
	samePoints(t, "db", []string{"small v=1 1"}, a, b)
}

func TestGzipBodies(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	if r := g.write(t, "db=db", gzipped(t, "z v=1 5\nz v=2 6\n"), "Content-Encoding", "gzip"); r.Status != 204 {
		t.Fatalf("gzip write: %d %s", r.Status, r.Body)
	}
	g.waitCaughtUp(t, 10*time.Second)
	samePoints(t, "db", []string{"z v=1 5", "z v=2 6"}, a, b)
}

// /api/v2/write into 1.x backends: the bucket maps to database/retention
// policy as InfluxDB 1.8 maps it.
func TestV2WriteIntoV1Backends(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	a.Exec(t, `CREATE RETENTION POLICY "week" ON "db" DURATION 7d REPLICATION 1`)
	b.Exec(t, `CREATE RETENTION POLICY "week" ON "db" DURATION 7d REPLICATION 1`)
	g := startGate(t, newConfig(t, a, b))
	now := time.Now().Truncate(time.Second)
	r := do(t, "POST", g.url+"/api/v2/write?org=ignored&bucket=db/week&precision=s",
		fmt.Sprintf("v2 v=1 %d\n", now.Unix()), "Authorization", "Token ignored")
	if r.Status != 204 {
		t.Fatalf("v2 write: %d %s", r.Status, r.Body)
	}
	r = do(t, "POST", g.url+"/api/v2/write?bucket=db", fmt.Sprintf("v2default v=2 %d\n", now.UnixNano()))
	if r.Status != 204 {
		t.Fatalf("v2 write to default rp: %d %s", r.Status, r.Body)
	}
	g.waitCaughtUp(t, 10*time.Second)
	for _, s := range []*testinflux.Server{a, b} {
		res := s.Query(t, "db", `SELECT v FROM "db"."week"."v2"`)
		if len(res.Results) == 0 || len(res.Results[0].Series) != 1 {
			t.Errorf("%s: point not in rp week: %+v", s.URL(), res)
		}
		if n := s.Count(t, "db", "v2default"); n != 1 {
			t.Errorf("%s: v2default count %d", s.URL(), n)
		}
	}
}

// A backend addressed through its 2.x API (influxd 1.8.10's
// /api/v2/write) receives bucket and token.
func TestV2Backend(t *testing.T) {
	t.Parallel()
	v1 := testinflux.Start(t, testinflux.Options{})
	v2 := testinflux.Start(t, testinflux.Options{Version: testinflux.V1810})
	v1.CreateDatabase(t, "db")
	v2.CreateDatabase(t, "db")
	cfg := newConfig(t, v1)
	o := output("v2", v2.URL()+"/api/v2/write")
	o.Token = "any-token"
	cfg.HTTP[0].Outputs = append(cfg.HTTP[0].Outputs, o)
	cfg.ApplyDefaults()
	g := startGate(t, cfg)
	g.mustWrite(t, "db=db&precision=h", "hours v=1 2\n")
	g.mustWrite(t, "db=db&precision=ms", "millis v=1 1700000000123\n")
	g.waitCaughtUp(t, 10*time.Second)
	samePoints(t, "db", []string{"hours v=1 7200000000000", "millis v=1 1700000000123000000"}, v1, v2)
}

func TestPingAndHealth(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	for _, m := range []string{"GET", "HEAD"} {
		r := do(t, m, g.url+"/ping", "")
		if r.Status != 204 || r.Header.Get("X-Influxdb-Version") == "" {
			t.Errorf("%s /ping: %d version %q", m, r.Status, r.Header.Get("X-Influxdb-Version"))
		}
	}
	status, h := g.health(t)
	if status != 200 || h.Status != "pass" || len(h.Checks) != 2 || h.Checks[0].Name != "a" || h.Checks[1].Name != "b" {
		t.Fatalf("/health: %d %+v", status, h)
	}
	b.Stop(t)
	g.mustWrite(t, "db=db", "cpu v=1 1\n")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, h = g.health(t)
		if h.Checks[1].State == "down" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend b not reported down: %+v", h.Checks[1])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, h := g.health(t); status != 200 || h.Status != "pass" || h.Checks[1].Status != "fail" || h.Checks[1].BacklogRecs == 0 {
		t.Errorf("with b down: %d %+v", status, h)
	}
}
