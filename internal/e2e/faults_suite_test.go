package e2e

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// soak turns the fault suite's short run into the long soak: the fault
// cycle repeats until this much time has passed, with a long backend
// outage in every cycle (make test-faults).
var soak = flag.Duration("soak", 0, "run the fault suite as a long soak of this duration (make test-faults)")

// faultSuite is influxgate (a subprocess, so that it can be kill -9'd) in
// front of two real influxd, each behind a fakeFaultProxy, its data dir on
// a small tmpfs when one can be mounted, under a steady write load.
type faultSuite struct {
	t         *testing.T
	a, b      *testinflux.Server
	pa, pb    *fakeFaultProxy
	gate      *procGate
	load      *loadGen
	ledger    *ledger
	mount     string // the tmpfs (or plain temp dir) holding the data dir
	tmpfs     bool
	dataDir   string
	faults    map[string]int // faults injected by the suite itself, by kind
	destroyed map[int64]bool // load points in log records the suite damaged
	stepCount int
}

func newFaultSuite(t *testing.T) *faultSuite {
	s := &faultSuite{t: t, ledger: &ledger{}, faults: map[string]int{}, destroyed: map[int64]bool{}}
	s.mount, s.tmpfs = mountTmpfs(t, "128m")
	s.dataDir = filepath.Join(s.mount, "data")
	s.a, s.b = twoBackends(t, loadDB)
	s.pa = newFakeFaultProxy(t, "a", s.a.URL())
	s.pb = newFakeFaultProxy(t, "b", s.b.URL())
	s.gate = newProcGate(t, func(_, addr string) string {
		// buffer-size-mb with overflow = reject keeps log segments small
		// (a cap of 64 MiB gives 8 MiB segments) so that delivered ones are
		// deleted on the small tmpfs; a backlog at the cap answers 503,
		// which never loses an acknowledged point.
		out := `max-delay-interval = "1s", timeout = "3s", buffer-size-mb = 64, overflow = "reject"`
		return fmt.Sprintf("data-dir = %q\nwrite-timeout = \"5s\"\nshutdown-timeout = \"10s\"\n\n"+
			"[[http]]\nname = \"http\"\nbind-addr = %q\noutput = [\n"+
			"  { name = \"a\", location = %q, %s },\n  { name = \"b\", location = %q, %s },\n]\n",
			s.dataDir, addr, s.pa.WriteURL(), out, s.pb.WriteURL(), out)
	})
	pause := 15 * time.Millisecond
	if *soak > 0 {
		pause = 50 * time.Millisecond // about 3,000 points/s: the soak's points must fit in memory twice
	}
	s.load = newLoadGen(s.gate.url, s.ledger, 50, pause)
	return s
}

// step is one fault: it injects it, lets the load run through it, and
// clears it.
type step struct {
	name string
	run  func(s *faultSuite)
}

func (s *faultSuite) hold(d time.Duration) { time.Sleep(d) }

func jitter(lo, hi time.Duration) time.Duration { return lo + rand.N(hi-lo) }

// recovered waits until the load is acknowledged again.
func (s *faultSuite) recovered() { s.load.waitAcks(s.t, 500, time.Minute) }

// kill9 kills influxgate in the middle of the load and starts it again on
// the same data dir; with down, backend b's influxd is stopped across it.
func (s *faultSuite) kill9(down bool) {
	if down {
		s.b.Stop(s.t)
		s.hold(jitter(300*time.Millisecond, time.Second))
	}
	s.hold(jitter(100*time.Millisecond, 800*time.Millisecond))
	s.gate.kill()
	s.pa.forgetRetryAfter()
	s.pb.forgetRetryAfter()
	s.gate.start()
	s.recovered()
	if down {
		s.faults["kill -9 with a backend down"]++
		s.b.Restart(s.t)
	} else {
		s.faults["kill -9"]++
	}
}

// proxyFault sets f on one proxy for d. With progress, the backend must
// accept deliveries during the fault (it is a fault influxgate absorbs,
// not one that stops delivery).
func (s *faultSuite) proxyFault(p *fakeFaultProxy, f fault, d time.Duration, progress bool) {
	before := s.delivered(p.name)
	p.set(f)
	s.hold(d)
	during := s.delivered(p.name) - before
	p.set(fault{})
	if progress && during == 0 {
		s.t.Errorf("backend %s received nothing during %q: influxgate did not get past the fault", p.name, f)
	}
	s.recovered()
}

// delivered is a backend's delivered_points from /health.
func (s *faultSuite) delivered(name string) uint64 {
	_, h := s.gate.asGate().health(s.t)
	for _, c := range h.Checks {
		if c.Name == name {
			return c.Delivered
		}
	}
	s.t.Fatalf("no backend %s in /health", name)
	return 0
}

// pause freezes influxd b (SIGSTOP): it accepts connections and answers
// nothing.
func (s *faultSuite) pause(d time.Duration) {
	s.b.Pause(s.t)
	s.hold(d)
	s.b.Resume(s.t)
	s.faults["backend hung (SIGSTOP)"]++
	s.recovered()
}

// diskFull fills the log's file system until appends fail, checks that
// writes are refused (503, never 204) and /health says so, then frees it.
func (s *faultSuite) diskFull() {
	if !s.tmpfs {
		s.t.Log("disk-full step skipped: no tmpfs")
		return
	}
	g := s.gate.asGate()
	refused := s.load.status()["503"]
	ballast := fillDisk(s.t, s.mount)
	deadline := time.Now().Add(30 * time.Second)
	for s.load.status()["503"] == refused {
		if time.Now().After(deadline) {
			s.t.Fatalf("disk full for 30s and no write was refused (answers: %v)", s.load.status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, h := g.health(s.t); status != http.StatusServiceUnavailable || h.Status != "fail" {
		s.t.Errorf("/health with the log's disk full: %d %s %q", status, h.Status, h.Message)
	}
	s.hold(time.Second)
	if err := os.Remove(ballast); err != nil {
		s.t.Fatal(err)
	}
	s.faults["log disk full"]++
	s.recovered()
	if status, h := g.health(s.t); status != http.StatusOK {
		s.t.Errorf("/health after the disk was freed: %d %q", status, h.Message)
	}
}

// damage kills influxgate with backend b down (so that b has not received
// what is damaged), damages the newest log segment, and starts again:
// influxgate must start, report the damage and deliver everything else.
func (s *faultSuite) damage(kind string) {
	s.b.Stop(s.t)
	s.hold(jitter(500*time.Millisecond, 1500*time.Millisecond))
	s.gate.kill()
	logDir := filepath.Join(s.dataDir, "http", "log")
	var seqs []int64
	var ok bool
	var report string
	if kind == "bit flip" {
		seqs, ok = flipRecord(s.t, logDir)
		report = "records lost from the log"
	} else {
		seqs, ok = truncateLog(s.t, logDir)
		report = "truncated torn tail"
	}
	for _, q := range seqs {
		s.destroyed[q] = true
	}
	logStart, _ := os.Stat(s.gate.log.Name())
	s.gate.start()
	s.recovered()
	s.b.Restart(s.t)
	if !ok {
		s.t.Logf("%s step: too few records in the newest segment; nothing damaged", kind)
		return
	}
	s.faults["log segment "+kind]++
	if kind == "bit flip" {
		s.gate.asGate().waitCaughtUp(s.t, 2*time.Minute) // b's reader meets the damage
	}
	text, _ := os.ReadFile(s.gate.log.Name())
	if !strings.Contains(string(text[logStart.Size():]), report) {
		s.t.Errorf("after a %s in the log, influxgate's log does not say %q", kind, report)
	}
}

// idleKeepAlive checks that a client connection left idle after a request
// is closed by the server's idle timeout (2 minutes), with the load going on.
func (s *faultSuite) idleKeepAlive() {
	c, err := net.Dial("tcp", strings.TrimPrefix(s.gate.url, "http://"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
	if a := readRawAnswer(s.t, bufio.NewReader(c)); a.Status != http.StatusNoContent {
		s.t.Fatalf("/ping: %d", a.Status)
	}
	if !closedByServer(c, 3*time.Minute) {
		s.t.Error("an idle keep-alive connection was still open after 3 minutes")
	}
	s.faults["idle keep-alive connection closed"]++
}

// steps returns the fault cycle. Durations are short in the short run and
// longer in the soak, which adds a long outage of a backend.
func (s *faultSuite) steps(long bool) []step {
	d := func(short, soak time.Duration) time.Duration {
		if long {
			return soak
		}
		return short
	}
	st := []step{
		{"kill -9", func(s *faultSuite) { s.kill9(false) }},
		{"kill -9", func(s *faultSuite) { s.kill9(false) }},
		{"kill -9 with b down", func(s *faultSuite) { s.kill9(true) }},
		{"b hangs (proxy)", func(s *faultSuite) {
			s.proxyFault(s.pb, fault{Mode: modeHang}, d(7*time.Second, 20*time.Second), false)
		}},
		{"b slow", func(s *faultSuite) {
			s.proxyFault(s.pb, fault{Mode: modeDelay, Delay: 700 * time.Millisecond}, d(4*time.Second, 30*time.Second), true)
		}},
		// Faults on a share of the requests run long enough that the
		// "delivered during the fault" check cannot fail by bad luck
		// (30% of about 8 attempts all failing: under 0.01%).
		{"a 500s (30%)", func(s *faultSuite) {
			s.proxyFault(s.pa, fault{Mode: modeStatus, Status: 500, Rate: 0.3}, d(5*time.Second, 20*time.Second), true)
		}},
		{"b 503 Retry-After", func(s *faultSuite) {
			s.proxyFault(s.pb, fault{Mode: modeStatus, Status: 503, RetryAfter: 2}, d(5*time.Second, 20*time.Second), false)
		}},
		{"b 429 Retry-After", func(s *faultSuite) {
			s.proxyFault(s.pb, fault{Mode: modeStatus, Status: 429, RetryAfter: 1, Rate: 0.3}, d(8*time.Second, 20*time.Second), true)
		}},
		{"both 503", func(s *faultSuite) {
			s.pa.set(fault{Mode: modeStatus, Status: 503})
			s.proxyFault(s.pb, fault{Mode: modeStatus, Status: 503}, d(3*time.Second, 10*time.Second), false)
			s.pa.set(fault{})
			s.recovered()
		}},
		{"a reset mid-request", func(s *faultSuite) {
			s.proxyFault(s.pa, fault{Mode: modeResetRequest, Rate: 0.3}, d(5*time.Second, 20*time.Second), true)
		}},
		{"b reset mid-answer", func(s *faultSuite) {
			s.proxyFault(s.pb, fault{Mode: modeResetResponse, Rate: 0.3}, d(5*time.Second, 20*time.Second), true)
		}},
		{"b NUL bytes in headers", func(s *faultSuite) {
			s.proxyFault(s.pb, fault{Mode: modeNULHeader}, d(3*time.Second, 20*time.Second), true)
		}},
		{"a garbage answers", func(s *faultSuite) {
			s.proxyFault(s.pa, fault{Mode: modeGarbage}, d(2*time.Second, 10*time.Second), false)
		}},
		{"b hangs (SIGSTOP)", func(s *faultSuite) { s.pause(d(6*time.Second, 30*time.Second)) }},
		{"kill -9", func(s *faultSuite) { s.kill9(false) }},
		{"log disk full", func(s *faultSuite) { s.diskFull() }},
		{"log segment bit flip", func(s *faultSuite) { s.damage("bit flip") }},
		{"kill -9 with b down", func(s *faultSuite) { s.kill9(true) }},
		{"log segment truncated", func(s *faultSuite) { s.damage("truncation") }},
	}
	if long {
		st = append(st, step{"kill -9 five times in a row", func(s *faultSuite) {
			for range 5 {
				s.kill9(false)
			}
		}}, step{"idle keep-alive connection", func(s *faultSuite) { s.idleKeepAlive() }})
		st = append(st, step{"b stopped for minutes", func(s *faultSuite) {
			s.b.Stop(s.t)
			s.hold(3 * time.Minute)
			s.b.Restart(s.t)
			s.faults["backend stopped for 3 minutes"]++
			s.recovered()
		}})
	}
	return st
}

// TestFaultSuite drives a steady write load through influxgate into two
// real influxd while injecting every fault of the cycle (once in the short
// run; repeated for -soak), then audits every acknowledged point.
func TestFaultSuite(t *testing.T) {
	t.Parallel()
	s := newFaultSuite(t)
	start := time.Now()
	s.load.start(4)
	s.load.waitAcks(t, 1000, 30*time.Second)
	cycles := 0
	for {
		steps := s.steps(*soak > 0)
		if cycles > 0 {
			rand.Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })
		}
		for _, st := range steps {
			t.Logf("%6.1fs step %d: %s", time.Since(start).Seconds(), s.stepCount, st.name)
			st.run(s)
			s.stepCount++
			if t.Failed() {
				break
			}
			s.hold(jitter(200*time.Millisecond, 700*time.Millisecond))
		}
		cycles++
		if t.Failed() || time.Since(start) > *soak {
			break
		}
	}
	s.load.halt()
	s.gate.asGate().waitCaughtUp(t, 3*time.Minute)
	states := s.ledger.snapshot()
	rows := audit(t, states, []auditBackend{{name: "a", server: s.a, proxy: s.pa}, {name: "b", server: s.b, proxy: s.pb}}, s.destroyed)
	s.report(time.Since(start), cycles, rows)
	for _, p := range []*fakeFaultProxy{s.pa, s.pb} {
		if _, _, early := p.stats(); early > 0 {
			t.Errorf("backend %s: %d writes came before the Retry-After the proxy asked for", p.name, early)
		}
	}
}

// report prints the figures docs/reliability.md quotes.
func (s *faultSuite) report(took time.Duration, cycles int, rows []auditRow) {
	faults := map[string]int{}
	for k, v := range s.faults {
		faults[k] = v
	}
	for _, p := range []*fakeFaultProxy{s.pa, s.pb} {
		inj, _, _ := p.stats()
		for k, v := range inj {
			faults["backend "+p.name+": "+k] += v
		}
	}
	keys := make([]string, 0, len(faults))
	total := 0
	for k, v := range faults {
		keys = append(keys, k)
		total += v
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "fault suite: %s, %d cycle(s), %d steps, tmpfs=%v\n", took.Round(time.Second), cycles, s.stepCount, s.tmpfs)
	fmt.Fprintf(&b, "client answers: %s\n", formatCounts(s.load.status()))
	fmt.Fprintf(&b, "faults injected: %d\n", total)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-55s %d\n", k, faults[k])
	}
	lost := 0
	for _, r := range rows {
		lost += r.missing
	}
	fmt.Fprintf(&b, "acknowledged points lost: %d\n", lost)
	s.t.Log("\n" + b.String())
}
