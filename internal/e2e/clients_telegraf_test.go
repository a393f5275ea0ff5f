package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// telegrafPoints are lines Telegraf's exec input reads (influx parser),
// each with the canonical form influxd gives it back (testinflux.Points):
// escapes in names, tags, keys and strings, every field type, and
// nanosecond timestamps that a rounding anywhere would change. Every line
// is its own series, so that the test with timestamps left out (stamped by
// influxgate, equal within a request) loses none.
var telegrafPoints = []struct{ line, canonical string }{
	{`weather,station=tegel,city=Berlin temperature=21.5,humidity=48i,raining=false,summary="dry, \"warm\"" 1700000000000000001`,
		`weather,city=Berlin,station=tegel humidity=48i,raining=false,summary="dry, \"warm\"",temperature=21.5 1700000000000000001`},
	{`weather,city=New\ York,station=jfk temperature=-3.25,humidity=91i,raining=true,summary="snow\\ice" 1700000000123456789`,
		`weather,city=New\ York,station=jfk humidity=91i,raining=true,summary="snow\\ice",temperature=-3.25 1700000000123456789`},
	{`disk\,io,tag\=key=v\=1,path=/var/lib\,x used=73.2,free=1234567890i 1700000001000000007`,
		`disk\,io,path=/var/lib\,x,tag\=key=v\=1 free=1234567890i,used=73.2 1700000001000000007`},
	{`huge v=1e+30,w=-9223372036854775807i 1700000002000000003`,
		`huge v=1e+30,w=-9223372036854775807i 1700000002000000003`},
}

// telegrafBatch is how many generated points follow telegrafPoints: more
// than one metric_batch_size, so each output sends several requests.
const telegrafBatch = 200

// telegrafInput writes the points file and returns its path and the
// canonical points, sorted as testinflux.Points sorts them.
func telegrafInput(t *testing.T) (string, []string) {
	t.Helper()
	var lines, want []string
	for _, p := range telegrafPoints {
		lines, want = append(lines, p.line), append(want, p.canonical)
	}
	for i := range telegrafBatch {
		l := fmt.Sprintf("batch,n=%03d f=%d.5,v=%di %d", i, i, i, 1700000100000000000+int64(i)*1000003)
		lines, want = append(lines, l), append(want, l)
	}
	path := filepath.Join(t.TempDir(), "points.lp")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	return path, want
}

// runTelegraf runs Telegraf once (--once: one gather, one flush, exit)
// with the given plugin sections. It fails the test when Telegraf exits
// non-zero (with --once: an input error or metrics an output could not
// send) or logs an error.
func runTelegraf(t *testing.T, bin, plugins string) string {
	t.Helper()
	// precision 1ns: by default Telegraf rounds every timestamp to the
	// collection interval's precision, which would hide a rounding of ours.
	conf := `[agent]
  interval = "10s"
  precision = "1ns"
  metric_batch_size = 50
  omit_hostname = true
  skip_processors_after_aggregators = true
` + plugins
	path := filepath.Join(t.TempDir(), "telegraf.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runClient(t, 2*time.Minute, bin, "--config", path, "--once")
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " E! ") {
			t.Errorf("Telegraf logged an error: %s\nconfig:\n%s\noutput:\n%s", line, conf, clip(out))
			break
		}
	}
	return out
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string { return strconv.Quote(s) }

// Telegraf's two InfluxDB outputs write through influxgate into two real
// influxd 1.8.10, one addressed with its 1.x API and one with its 2.x API:
// outputs.influxdb (creating its database through influxgate, gzip),
// outputs.influxdb with timestamps left out (influxgate stamps them once,
// so both replicas agree), and outputs.influxdb_v2 (token, org, bucket
// db/rp). Each replica holds exactly the points Telegraf read.
func TestClientTelegrafWrites(t *testing.T) {
	t.Parallel()
	telegraf := telegrafBinary(t)
	a := testinflux.Start(t, testinflux.Options{Version: testinflux.V1810})
	b := testinflux.Start(t, testinflux.Options{Version: testinflux.V1810})
	cfg := newConfig(t)
	cfg.HTTP[0].Outputs = append(cfg.HTTP[0].Outputs, output("a", a.WriteURL()), output("b", b.URL()+"/api/v2/write"))
	cfg.ApplyDefaults()
	g := startGate(t, cfg)
	// outputs.influxdb_v2 does not create buckets: create its database
	// through influxgate, which applies it to both backends.
	if r := g.query(t, http.MethodPost, url.Values{"q": {"CREATE DATABASE telegraf_v2"}}); r.Status != http.StatusOK {
		t.Fatalf("CREATE DATABASE telegraf_v2: %d %s", r.Status, r.Body)
	}

	input, want := telegrafInput(t)
	start := time.Now()
	runTelegraf(t, telegraf, fmt.Sprintf(`
[[inputs.exec]]
  commands = [%s]
  data_format = "influx"
  timeout = "30s"

[[outputs.influxdb]]
  urls = [%[2]s]
  database = "telegraf_v1"
  content_encoding = "gzip"
  timeout = "30s"

[[outputs.influxdb]]
  alias = "stamped"
  urls = [%[2]s]
  database = "telegraf_stamped"
  influx_omit_timestamp = true
  content_encoding = "identity"
  timeout = "30s"

[[outputs.influxdb_v2]]
  urls = [%[2]s]
  token = "user:password"
  organization = "influxgate"
  bucket = "telegraf_v2/autogen"
  content_encoding = "identity"
  timeout = "30s"
`, tomlString("cat "+input), tomlString(g.url)))
	end := time.Now()

	g.waitCaughtUp(t, 30*time.Second)
	samePoints(t, "telegraf_v1", want, a, b)
	samePoints(t, "telegraf_v2", want, a, b)

	// Without Telegraf's timestamps, the replicas must still agree, and
	// each point must carry a time of receipt within Telegraf's run.
	stamped := identical(t, "telegraf_stamped", a, b)
	var gotSeries, wantSeries []string
	for _, p := range want {
		wantSeries = append(wantSeries, p[:strings.LastIndexByte(p, ' ')])
	}
	for _, p := range stamped {
		i := strings.LastIndexByte(p, ' ')
		gotSeries = append(gotSeries, p[:i])
		ns, err := strconv.ParseInt(p[i+1:], 10, 64)
		if err != nil || ns < start.UnixNano() || ns > end.UnixNano() {
			t.Errorf("stamped point %q: time not within Telegraf's run [%d, %d]", p, start.UnixNano(), end.UnixNano())
			break
		}
	}
	slices.Sort(gotSeries)
	slices.Sort(wantSeries)
	if !slices.Equal(gotSeries, wantSeries) {
		t.Errorf("telegraf_stamped holds %d points, want %d:\n got: %s\nwant: %s", len(gotSeries), len(wantSeries),
			clip(strings.Join(gotSeries, "\n")), clip(strings.Join(wantSeries, "\n")))
	}
}

// Telegraf's inputs.influxdb, pointed at influxgate's /debug/vars, reads
// influxgate's counters without an error and turns them into metrics
// (here written to a file with outputs.file), among them the per-backend
// delivery of the points written before.
func TestClientTelegrafMonitorsDebugVars(t *testing.T) {
	t.Parallel()
	telegraf := telegrafBinary(t)
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	g.mustWrite(t, "db=db", "cpu,host=x v=1 1\ncpu,host=y v=2 2\ncpu,host=z v=3 3\n")
	g.waitCaughtUp(t, 10*time.Second)

	out := filepath.Join(t.TempDir(), "metrics.lp")
	vars := g.url + "/debug/vars"
	runTelegraf(t, telegraf, fmt.Sprintf(`
[[inputs.influxdb]]
  urls = [%s]
  timeout = "10s"

[[outputs.file]]
  files = [%s]
  data_format = "influx"
  influx_sort_fields = true
`, tomlString(vars), tomlString(out)))
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	metrics := parseTelegrafFile(string(raw))
	// Every measurement the input makes from influxgate's entries, with a
	// field that must have the value influxgate counted.
	checks := []struct{ measurement, tags, field, want string }{
		{"influxdb_system", "url=" + vars, "uptime", ""},
		{"influxdb_memstats", "url=" + vars, "heap_alloc", ""},
		{"influxdb_build", "url=" + vars, "version", `"test"`},
		{"influxdb_runtime", "url=" + vars, "NumGoroutine", ""},
		{"influxdb_influxgate", "url=" + vars, "connectionsRefused", "0"},
		{"influxdb_influxgate_listener", "listener=http,url=" + vars, "appends", "1"},
		{"influxdb_influxgate_listener", "listener=http,url=" + vars, "ready", "1"},
		{"influxdb_influxgate_backend", "backend=a,listener=http,url=" + vars, "deliveredPoints", "3"},
		{"influxdb_influxgate_backend", "backend=b,listener=http,url=" + vars, "deliveredPoints", "3"},
		{"influxdb_influxgate_backend", "backend=b,listener=http,url=" + vars, "state", `"live"`},
		{"influxdb_influxgate_write", "endpoint=v1,url=" + vars, "pointsWrittenOK", "3"},
		{"influxdb_influxgate_write", "endpoint=v1,url=" + vars, "reqOK", "1"},
		{"influxdb_influxgate_query", "endpoint=query,url=" + vars, "req", "0"},
	}
	for _, c := range checks {
		key := c.measurement + "," + c.tags
		got, ok := metrics[key][c.field]
		if !ok || (c.want != "" && got != c.want) {
			t.Errorf("%s %s = %q (present %v), want %q; Telegraf wrote:\n%s", key, c.field, got, ok, c.want, clip(string(raw)))
		}
	}
}

// parseTelegrafFile reads outputs.file's line protocol into
// "measurement,tags" -> field -> value as written (floats as Telegraf
// prints them, strings quoted). It splits on spaces, enough for the
// metrics checked (no spaces in their tags or string fields); lines it
// cannot read (influxdb_cmdline's value has spaces) are left out.
func parseTelegrafFile(s string) map[string]map[string]string {
	out := make(map[string]map[string]string)
	for _, line := range strings.Split(s, "\n") {
		parts := strings.Split(line, " ")
		if len(parts) != 3 {
			continue
		}
		fields := make(map[string]string)
		for _, f := range strings.Split(parts[1], ",") {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			// Telegraf writes the JSON numbers of /debug/vars as floats:
			// a whole number reads the same either way.
			if n, err := strconv.ParseFloat(v, 64); err == nil && n == float64(int64(n)) {
				v = strconv.FormatInt(int64(n), 10)
			}
			fields[k] = v
		}
		out[parts[0]] = fields
	}
	return out
}
