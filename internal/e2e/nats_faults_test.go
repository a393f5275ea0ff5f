//go:build nats

package e2e

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
	"github.com/influxgate/influxgate/internal/testnats"
)

// The fault suite in nats mode (issue 18's (d); make test-nats): two
// influxgate nodes sharing a log in a three-server NATS cluster, each with
// its own write load, in front of two real influxd behind fault proxies.
// The suite's backend faults run as in the local suite; the local log's
// own faults (disk full, damaged segments) have no counterpart here and
// are replaced by the faults of this mode: nodes destroyed with their
// disks, NATS servers killed and frozen.
type natsFaultSuite struct {
	t      *testing.T
	nc     *testnats.Cluster
	a, b   *testinflux.Server
	pa, pb *fakeFaultProxy
	nodes  []*procGate
	loads  []*loadGen
	ledger *ledger
	faults map[string]int
	steps  int
}

func newNATSFaultSuite(t *testing.T) *natsFaultSuite {
	s := &natsFaultSuite{t: t, ledger: &ledger{}, faults: map[string]int{}}
	s.nc = testnats.Start(t, testnats.Options{Servers: 3})
	s.a, s.b = twoBackends(t, loadDB)
	s.pa = newFakeFaultProxy(t, "a", s.a.URL())
	s.pb = newFakeFaultProxy(t, "b", s.b.URL())
	for range 2 {
		n := newProcGate(t, func(dataDir, addr string) string {
			out := `max-delay-interval = "1s", timeout = "3s"`
			return fmt.Sprintf("data-dir = %q\nwrite-timeout = \"5s\"\nshutdown-timeout = \"10s\"\n%s\n"+
				"[[http]]\nname = \"http\"\nbind-addr = %q\noutput = [\n"+
				"  { name = \"a\", location = %q, %s },\n  { name = \"b\", location = %q, %s },\n]\n",
				dataDir, natsStoreTOML(s.nc), addr, s.pa.WriteURL(), out, s.pb.WriteURL(), out)
		})
		s.nodes = append(s.nodes, n)
		s.loads = append(s.loads, newLoadGen(n.url, s.ledger, 50, 15*time.Millisecond))
	}
	return s
}

func (s *natsFaultSuite) hold(d time.Duration) { time.Sleep(d) }

// recovered waits until both nodes' loads are acknowledged again.
func (s *natsFaultSuite) recovered() {
	for _, l := range s.loads {
		l.waitAcks(s.t, 300, time.Minute)
	}
}

// delivered sums a backend's delivered_points over the nodes.
func (s *natsFaultSuite) delivered(name string) uint64 {
	var n uint64
	for _, p := range s.nodes {
		_, h := p.asGate().health(s.t)
		for _, c := range h.Checks {
			if c.Name == name {
				n += c.Delivered
			}
		}
	}
	return n
}

// restartNode kills node i (and with wipe deletes its disk) and starts it
// again; a node that takes a backend over does not know the Retry-After
// the proxies asked the old one for.
func (s *natsFaultSuite) restartNode(p *procGate, wipe bool) {
	if wipe {
		p.destroy(s.t)
	} else {
		p.kill()
	}
	s.pa.forgetRetryAfter()
	s.pb.forgetRetryAfter()
	s.hold(jitter(200*time.Millisecond, time.Second))
	p.start()
	s.recovered()
}

func (s *natsFaultSuite) proxyFault(p *fakeFaultProxy, f fault, d time.Duration, progress bool) {
	before := s.delivered(p.name)
	p.set(f)
	s.hold(d)
	during := s.delivered(p.name) - before
	p.set(fault{})
	if progress && during == 0 {
		s.t.Errorf("backend %s received nothing during %q", p.name, f)
	}
	s.recovered()
}

func (s *natsFaultSuite) cycle() []step2 {
	n := func() *procGate { return s.nodes[rand.N(len(s.nodes))] }
	return []step2{
		{"kill -9 a node", func() { s.restartNode(n(), false); s.faults["node kill -9"]++ }},
		{"destroy a node (kill -9, disk deleted)", func() { s.restartNode(n(), true); s.faults["node destroyed with its disk"]++ }},
		{"destroy b's deliverer with b down", func() {
			s.b.Stop(s.t)
			s.hold(jitter(500*time.Millisecond, 1500*time.Millisecond))
			s.restartNode(delivererOf(s.t, "b", s.nodes...), true)
			s.b.Restart(s.t)
			s.faults["node destroyed with a backend down"]++
			s.recovered()
		}},
		{"kill -9 both nodes", func() {
			for _, p := range s.nodes {
				p.kill()
			}
			for _, p := range s.nodes {
				p.start()
			}
			s.faults["both nodes kill -9"]++
			s.recovered()
		}},
		{"b hangs (proxy)", func() { s.proxyFault(s.pb, fault{Mode: modeHang}, 5*time.Second, false) }},
		{"b slow", func() {
			s.proxyFault(s.pb, fault{Mode: modeDelay, Delay: 700 * time.Millisecond}, 4*time.Second, true)
		}},
		{"a 500s (30%)", func() {
			s.proxyFault(s.pa, fault{Mode: modeStatus, Status: 500, Rate: 0.3}, 5*time.Second, true)
		}},
		{"b 503 Retry-After", func() {
			s.proxyFault(s.pb, fault{Mode: modeStatus, Status: 503, RetryAfter: 2}, 5*time.Second, false)
		}},
		{"both 503", func() {
			s.pa.set(fault{Mode: modeStatus, Status: 503})
			s.proxyFault(s.pb, fault{Mode: modeStatus, Status: 503}, 3*time.Second, false)
			s.pa.set(fault{})
			s.recovered()
		}},
		{"a reset mid-request", func() {
			s.proxyFault(s.pa, fault{Mode: modeResetRequest, Rate: 0.3}, 5*time.Second, true)
		}},
		{"b reset mid-answer", func() {
			s.proxyFault(s.pb, fault{Mode: modeResetResponse, Rate: 0.3}, 5*time.Second, true)
		}},
		{"b hangs (SIGSTOP)", func() {
			s.b.Pause(s.t)
			s.hold(5 * time.Second)
			s.b.Resume(s.t)
			s.faults["backend hung (SIGSTOP)"]++
			s.recovered()
		}},
		{"kill -9 a NATS server", func() {
			ns := s.nc.Servers[rand.N(len(s.nc.Servers))]
			ns.Kill(s.t)
			s.recovered() // writes go on with two servers of three
			s.hold(2 * time.Second)
			ns.Restart(s.t)
			s.faults["NATS server kill -9"]++
			s.recovered()
		}},
		{"destroy a node and kill -9 a NATS server together", func() {
			p, ns := n(), s.nc.Servers[rand.N(len(s.nc.Servers))]
			p.destroy(s.t)
			ns.Kill(s.t)
			s.pa.forgetRetryAfter()
			s.pb.forgetRetryAfter()
			s.hold(2 * time.Second)
			p.start()
			ns.Restart(s.t)
			s.faults["node destroyed + NATS server kill -9"]++
			s.recovered()
		}},
	}
}

type step2 struct {
	name string
	run  func()
}

// TestNATSFaultSuite drives the load through both nodes while injecting
// every fault of the cycle, then audits every acknowledged point.
func TestNATSFaultSuite(t *testing.T) {
	t.Parallel()
	s := newNATSFaultSuite(t)
	start := time.Now()
	for _, l := range s.loads {
		l.start(4)
	}
	s.recovered()
	for _, st := range s.cycle() {
		t.Logf("%6.1fs step %d: %s", time.Since(start).Seconds(), s.steps, st.name)
		st.run()
		s.steps++
		if t.Failed() {
			break
		}
		s.hold(jitter(200*time.Millisecond, 700*time.Millisecond))
	}
	for _, l := range s.loads {
		l.halt()
	}
	for _, p := range s.nodes {
		p.asGate().waitCaughtUp(t, 3*time.Minute)
	}
	rows := audit(t, s.ledger.snapshot(), []auditBackend{{name: "a", server: s.a, proxy: s.pa}, {name: "b", server: s.b, proxy: s.pb}}, nil)
	s.report(time.Since(start), rows)
	for _, p := range []*fakeFaultProxy{s.pa, s.pb} {
		if _, _, early := p.stats(); early > 0 {
			t.Errorf("backend %s: %d writes came before the Retry-After the proxy asked for", p.name, early)
		}
	}
}

func (s *natsFaultSuite) report(took time.Duration, rows []auditRow) {
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
	fmt.Fprintf(&b, "fault suite (nats mode, 2 nodes, 3 NATS servers): %s, %d steps\n", took.Round(time.Second), s.steps)
	for i, l := range s.loads {
		fmt.Fprintf(&b, "client answers, node %d: %s\n", i+1, formatCounts(l.status()))
	}
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
