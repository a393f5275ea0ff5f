package bench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/lineproto"
)

func TestGenerateBodiesOverMeasurements(t *testing.T) {
	bodies, err := GenerateBodiesOver(4, 5000, 100, false, start)
	if err != nil {
		t.Fatal(err)
	}
	measurements := map[string]int{}
	for _, b := range bodies {
		c := b.Clone()
		c.Restamp(1_700_000_000_000_000_000) // the stamp offsets still point at the timestamps
		for line := range strings.Lines(string(c.Data)) {
			line = strings.TrimSuffix(line, "\n")
			if err := lineproto.ValidateLine([]byte(line)); err != nil {
				t.Fatalf("invalid line %q: %v", line, err)
			}
			if !strings.HasPrefix(line[strings.LastIndexByte(line, ' ')+1:], "17000000000000") {
				t.Fatalf("line %q was not re-stamped", line)
			}
			m, _, _ := strings.Cut(line, ",")
			measurements[m]++
		}
	}
	if len(measurements) != 100 {
		t.Errorf("%d measurements, want 100: %v", len(measurements), measurements)
	}
	for _, m := range []string{"cpu_000", "cpu_049", "mem_000", "mem_049"} {
		if measurements[m] == 0 {
			t.Errorf("no %s lines", m)
		}
	}
	for _, bad := range []int{-2, 3, 2002} {
		if _, err := GenerateBodiesOver(1, 10, bad, false, start); err == nil {
			t.Errorf("measurements %d accepted", bad)
		}
	}
}

// A single-line load still sends every series: its bodies cover them all.
func TestSingleLineBodiesCoverEverySeries(t *testing.T) {
	sc, err := FindScenarios("single-line", false)
	if err != nil {
		t.Fatal(err)
	}
	if sc[0].Lines != 1 || sc[0].Conns != 64 || sc[0].Sync != "" {
		t.Errorf("single-line is %+v", sc[0])
	}
	bodies, err := GenerateBodies(bodyCount(sc[0].Lines), sc[0].Lines, false, start)
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]bool{}
	for _, b := range bodies {
		line := string(b.Data)
		series[line[:strings.IndexByte(line, ' ')]] = true
	}
	if len(series) != Series {
		t.Errorf("%d bodies carry %d series, want %d", len(bodies), len(series), Series)
	}
	if n := bodyCount(5000); n != 16 {
		t.Errorf("large loads cycle through %d bodies, want 16", n)
	}
}

// What each sink of a sharded run must receive: its shard's lines of every
// acknowledged request, and the shards together everything.
func TestShardExpectations(t *testing.T) {
	sc, _ := FindScenarios("shards", false)
	bodies, err := GenerateBodiesOver(3, 5000, sc[0].Measurements, false, start)
	if err != nil {
		t.Fatal(err)
	}
	set, err := startRunSinks(sc[0])
	defer set.close()
	if err != nil {
		t.Fatal(err)
	}
	if len(set.sinks) != 4 || len(set.rc.Shards) != 2 || len(set.rc.Outputs) != 0 {
		t.Fatalf("shards run: %d sinks, %+v", len(set.sinks), set.rc)
	}
	owned, err := shardLines(set.rc.Shards, bodies)
	if err != nil {
		t.Fatal(err)
	}
	for b, o := range owned {
		if o[0]+o[1] != bodies[b].Lines || o[0] < bodies[b].Lines/4 || o[1] < bodies[b].Lines/4 {
			t.Errorf("body %d splits %v of %d lines", b, o, bodies[b].Lines)
		}
	}
	res := LoadResult{BodyCounts: []int64{2, 0, 1}, TotalLines: 3 * 5000}
	want, err := set.expected(res, bodies)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		j := set.shard[i]
		if exp := 2*int64(owned[0][j]) + int64(owned[2][j]); w != exp {
			t.Errorf("sink %s: want %d, expected says %d", set.names[i], exp, w)
		}
	}
	if want[0] != want[1] || want[2] != want[3] || want[0]+want[2] != res.TotalLines {
		t.Errorf("expectations %v do not add up to %d", want, res.TotalLines)
	}
	if spread := set.shardSpread(want); !strings.Contains(spread, "s1 ") || !strings.Contains(spread, "s2 ") {
		t.Errorf("spread note %q", spread)
	}
	gz, _ := GenerateBodiesOver(1, 10, 100, true, start)
	if _, err := shardLines(set.rc.Shards, gz); err == nil {
		t.Errorf("compressed bodies split by shard")
	}
}

// The new scenarios end to end against influxgate: every acknowledged line
// reaches every sink that should have it, and a relay without sharding is
// reported n/a for shards without being started.
func TestNewScenariosDeliver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs influxgate")
	}
	bin := filepath.Join(t.TempDir(), "influxgate")
	build := exec.Command("go", "build", "-o", bin, "github.com/influxgate/influxgate/cmd/influxgate")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build influxgate: %v\n%s", err, out)
	}
	traces := t.TempDir()
	r := &Runner{Relays: []Relay{{Name: "influxgate", Kind: KindInfluxgate, Path: bin},
		{Name: "influx-proxy", Kind: KindInfluxProxy, Path: "/nonexistent/influx-proxy"}},
		WorkDir: t.TempDir(), Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond,
		Runs: 1, DrainTimeout: 30 * time.Second, NoCeiling: true, TraceDir: traces}
	for _, name := range []string{"single-line", "shards"} {
		sc, _ := FindScenarios(name, false)
		results := r.Run(context.Background(), sc[0])
		if len(results) != 2 {
			t.Fatalf("%s: %d results", name, len(results))
		}
		gate := results[0]
		if gate.Err != "" || len(gate.Runs) != 1 {
			t.Fatalf("%s: %+v", name, gate)
		}
		run := gate.Runs[0]
		if run.Load.Lines == 0 || run.Shortfall != 0 || len(run.Sinks) != 2*max(1, sc[0].Shards) {
			t.Errorf("%s: %d lines, shortfall %d, sinks %+v", name, run.Load.Lines, run.Shortfall, run.Sinks)
		}
		var delivered int64
		for _, s := range run.Sinks {
			if s.Expected == 0 || s.Delivered < s.Expected {
				t.Errorf("%s: %s got %d of %d", name, s.Name, s.Delivered, s.Expected)
			}
			delivered += s.Delivered
		}
		// Each line goes to two replicas, whatever the sharding.
		if delivered < 2*run.Load.TotalLines {
			t.Errorf("%s: sinks got %d lines in all, want at least 2 × %d", name, delivered, run.Load.TotalLines)
		}
		// -trace: an execution trace of influxgate over the window.
		data, err := os.ReadFile(filepath.Join(traces, name+"-influxgate.trace"))
		if err != nil || len(data) < 1024 || !bytes.HasPrefix(data, []byte("go 1.")) {
			t.Errorf("%s: no execution trace of influxgate (%v, %d bytes, starts %q)", name, err, len(data), data[:min(len(data), 16)])
		}
		peer := results[1]
		switch name {
		case "shards":
			if peer.NotApplicable != "no sharded listener" || peer.Err != "" || len(peer.Runs) != 0 {
				t.Errorf("influx-proxy in shards: %+v", peer)
			}
		default:
			// The peer's binary does not exist: it must fail, not pass.
			if peer.Err == "" {
				t.Errorf("%s: a missing peer binary gave no error", name)
			}
		}
	}
	if peers, _ := filepath.Glob(filepath.Join(traces, "*influx-proxy*")); len(peers) != 0 {
		t.Errorf("traces of a peer, which serves no Go profiler: %v", peers)
	}
}

// TestPeersDeliver runs the peers named in INFLUXGATE_BENCH_PEERS
// ("influxdb-relay=/path,influx-proxy=/path,inmate=/path"; docs/performance.md
// says how to build them) through short runs of the sink scenarios, so that
// each generated config is checked by the peer itself. Without the variable
// it is skipped: the peers are not part of this repository.
func TestPeersDeliver(t *testing.T) {
	spec := os.Getenv("INFLUXGATE_BENCH_PEERS")
	if spec == "" {
		t.Skip("INFLUXGATE_BENCH_PEERS not set")
	}
	var relays []Relay
	for item := range strings.SplitSeq(spec, ",") {
		rel, err := ParseRelay(strings.TrimSpace(item))
		if err != nil || rel.Kind == KindInfluxgate {
			t.Fatalf("INFLUXGATE_BENCH_PEERS item %q: want a peer's name=path (%v)", item, err)
		}
		relays = append(relays, rel)
	}
	r := &Runner{Relays: relays, WorkDir: t.TempDir(), Warmup: 100 * time.Millisecond, Duration: time.Second,
		Runs: 1, DrainTimeout: 30 * time.Second, NoCeiling: true}
	for _, name := range []string{"large", "single-line"} {
		sc, _ := FindScenarios(name, false)
		for _, res := range r.Run(context.Background(), sc[0]) {
			if res.Err != "" || len(res.Runs) != 1 {
				t.Errorf("%s/%s: %s", name, res.Relay, res.Err)
				continue
			}
			run := res.Runs[0]
			if run.Load.Lines == 0 || run.Shortfall != 0 || run.Load.ErrorCount() != 0 {
				t.Errorf("%s/%s: %d lines, shortfall %d, errors %v, notes %v", name, res.Relay,
					run.Load.Lines, run.Shortfall, run.Load.Errors, run.Notes)
			}
			if run.CPUPerLine <= 0 || run.PeakRSS <= 0 {
				t.Errorf("%s/%s: cpu/line %.0f ns, peak RSS %d: /proc not read", name, res.Relay, run.CPUPerLine, run.PeakRSS)
			}
		}
	}
}
