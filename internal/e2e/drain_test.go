package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/shard"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// A node that does not come back: its data directory is self-contained, so
// `influxgate drain` run elsewhere on a copy of it delivers what the dead
// node held and exits once every cursor has reached the end of its log.

// copyDir copies a data directory as an operator would (cp -a) from a
// dead node's disk.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatalf("copy %s: %v", from, err)
	}
}

// runDrain runs influxgate drain and returns its exit code and output.
func runDrain(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(influxgateBin, append([]string{"drain"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("influxgate drain: %v", err)
		}
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// writeAcked writes n batches of points of measurement m (values from 1)
// and returns them as testinflux.Points renders them; every write must be
// acknowledged.
func writeAcked(t *testing.T, g *gate, db, m string, n int) []string {
	t.Helper()
	var want []string
	for i := range n {
		var body strings.Builder
		for j := range 5 {
			v := i*5 + j + 1
			fmt.Fprintf(&body, "%s v=%di %d\n", m, v, 1_700_000_000_000_000_000+v)
			want = append(want, fmt.Sprintf("%s v=%di %d", m, v, 1_700_000_000_000_000_000+v))
		}
		g.mustWrite(t, "db="+db, body.String())
	}
	return want
}

func TestDrainDeliversADeadNodesLogFromACopy(t *testing.T) {
	t.Parallel()
	x, y := twoBackends(t, "db")
	p := newProcGate(t, func(dataDir, addr string) string { return nativeConfig(dataDir, addr, "", "", x, y) })
	y.Stop(t)
	want := writeAcked(t, p.asGate(), "db", "m", 40)
	slices.Sort(want)
	if _, h := p.asGate().health(t); h.Checks[1].BacklogRecs == 0 {
		t.Fatalf("no backlog for the stopped backend: %+v", h.Checks)
	}
	p.kill() // the node dies and does not come back

	copied := t.TempDir()
	copyDir(t, filepath.Join(p.dir, "data"), copied)
	// The drain starts while the backend is still down and waits for it:
	// longer than the few seconds any close of a log gives delivery.
	cmd := exec.Command(influxgateBin, "drain", "-config", p.cfgPath, "-data-dir", copied, "-timeout", "60s", "-progress", "1s")
	var output strings.Builder
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(7 * time.Second)
	y.Restart(t)
	_ = cmd.Wait()
	code, out := cmd.ProcessState.ExitCode(), output.String()
	if !strings.Contains(out, "drain: 5s: 40 records") {
		t.Errorf("no progress line while the backend was down:\n%s", out)
	}
	if code != 0 || !strings.Contains(out, "drain: done in") || !strings.Contains(out, "every backend of 1 log(s) has received the whole log") {
		t.Fatalf("drain exited %d:\n%s", code, out)
	}
	samePoints(t, "db", want, x, y)
	report(t, "%d acknowledged points on both backends after a drain of the dead node's copied data dir: %s",
		len(want), strings.TrimSpace(lastLine(out)))

	// The cursors were saved: a second drain has nothing to do.
	code, out = runDrain(t, "-config", p.cfgPath, "-data-dir", copied, "-timeout", "10s")
	if code != 0 || !strings.Contains(out, "drain: done in") {
		t.Fatalf("second drain exited %d:\n%s", code, out)
	}
	samePoints(t, "db", want, x, y)
}

// A backend that stays down past -timeout: drain exits 1 and says what is
// left; the data dir lock keeps drain off a directory in use.
func TestDrainTimesOutWhileABackendStaysDown(t *testing.T) {
	t.Parallel()
	x, y := twoBackends(t, "db")
	p := newProcGate(t, func(dataDir, addr string) string { return nativeConfig(dataDir, addr, "", "", x, y) })
	y.Stop(t)
	writeAcked(t, p.asGate(), "db", "m", 3)

	code, out := runDrain(t, "-config", p.cfgPath, "-timeout", "5s")
	if code != 1 || !strings.Contains(out, "lock") {
		t.Errorf("drain on the data dir of a running node exited %d:\n%s", code, out)
	}
	p.kill()
	t0 := time.Now()
	code, out = runDrain(t, "-config", p.cfgPath, "-timeout", "2s", "-progress", "500ms")
	if code != 1 || !strings.Contains(out, "drain: timed out after") || !strings.Contains(out, "http b: 3 records (down)") ||
		!strings.Contains(out, "connection refused") {
		t.Errorf("drain with a backend down exited %d:\n%s", code, out)
	}
	if took := time.Since(t0); took > 15*time.Second {
		t.Errorf("drain -timeout 2s took %v", took)
	}
	if !strings.Contains(out, "drain: 1s: 3 records") && !strings.Contains(out, "drain: 2s: 3 records") {
		t.Errorf("no progress line:\n%s", out)
	}
}

// drain opens every log of the data directory as run does: each shard of
// a sharded listener, and a [[udp]] section's log for its HTTP outputs.
func TestDrainShardsAndUDPLogs(t *testing.T) {
	t.Parallel()
	x, y := twoBackends(t, "db")
	udpAddr := fmt.Sprintf("127.0.0.1:%d", testinflux.FreeUDPPort(t))
	p := newProcGate(t, func(dataDir, addr string) string {
		return fmt.Sprintf(`data-dir = %q
shutdown-delay = "0s"
[[http]]
name = "sharded"
bind-addr = %q
shard-key = "measurement"
  [[http.shard]]
  name = "s1"
  output = [ { name = "x1", location = %q, max-delay-interval = "1s" } ]
  [[http.shard]]
  name = "s2"
  output = [ { name = "y2", location = %q, max-delay-interval = "1s" } ]
[[udp]]
name = "udp"
bind-addr = %q
database = "db"
output = [ { name = "yu", location = %q, max-delay-interval = "1s" } ]
`, dataDir, addr, x.WriteURL(), y.WriteURL(), udpAddr, y.WriteURL())
	})
	y.Stop(t)
	g := p.asGate()
	placement := shard.NewPlacement([]string{"s1", "s2"})
	var wantX, wantY []string
	for i := range 20 {
		m := fmt.Sprintf("m%d", i)
		pts := writeAcked(t, g, "db", m, 1)
		if placement.Owner(shard.AppendKey(nil, "db", []byte(m), nil, false)) == "s2" {
			wantY = append(wantY, pts...)
		} else {
			wantX = append(wantX, pts...)
		}
	}
	if len(wantX) == 0 || len(wantY) == 0 {
		t.Fatalf("the measurements did not spread over both shards: %d points on s1, %d on s2", len(wantX), len(wantY))
	}
	conn, err := net.Dial("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		fmt.Fprintf(conn, "udp v=%di %d\n", i, 1_700_000_000_000_000_000+i)
		wantY = append(wantY, fmt.Sprintf("udp v=%di %d", i, 1_700_000_000_000_000_000+i))
	}
	conn.Close()
	waitFor(t, 10*time.Second, "the UDP lines in the UDP section's log", func() bool {
		var h struct {
			UDP []struct {
				Logged uint64 `json:"logged_lines"`
			} `json:"udp"`
		}
		_ = json.Unmarshal([]byte(do(t, "GET", g.url+"/health", "").Body), &h)
		return len(h.UDP) == 1 && h.UDP[0].Logged == 5
	})
	p.kill()
	y.Restart(t)
	code, out := runDrain(t, "-config", p.cfgPath, "-timeout", "60s")
	if code != 0 || !strings.Contains(out, "every backend of 3 log(s) has received the whole log") {
		t.Fatalf("drain exited %d:\n%s", code, out)
	}
	slices.Sort(wantX)
	slices.Sort(wantY)
	samePoints(t, "db", wantX, x)
	samePoints(t, "db", wantY, y)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
