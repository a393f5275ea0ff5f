package e2e

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
)

// A reload is all or nothing (issue 12, defect 7): when one new listener
// cannot bind, no other listener may be left bound and serving with its
// log open, and the running listeners keep their outputs. A retried reload
// then succeeds, opening the same logs again.
func TestFailedReloadChangesNothing(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	cfg := newConfig(t, a)
	g := startGate(t, cfg)

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = taken.Close() }()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()

	next := *cfg
	next.HTTP = []config.HTTPConfig{cfg.HTTP[0],
		{Name: "extra", BindAddr: freeAddr, Outputs: []config.OutputConfig{output("a", a.WriteURL())}},
		{Name: "blocked", BindAddr: taken.Addr().String(), Outputs: []config.OutputConfig{output("a", a.WriteURL())}},
	}
	next.HTTP[0].Outputs = append([]config.OutputConfig{}, cfg.HTTP[0].Outputs...)
	next.HTTP[0].Outputs = append(next.HTTP[0].Outputs, output("b", b.WriteURL()))
	next.ApplyDefaults()
	try := next
	try.HTTP = append([]config.HTTPConfig(nil), next.HTTP...)
	if _, err := g.srv.Reload(&try); err == nil {
		t.Fatal("reload with a bind-addr in use succeeded")
	}
	if c, err := net.DialTimeout("tcp", freeAddr, time.Second); err == nil {
		c.Close()
		t.Fatalf("listener %q is bound after a failed reload", "extra")
	}
	if _, h := g.health(t); len(h.Checks) != 1 || h.Checks[0].Name != "a" {
		t.Fatalf("outputs after a failed reload = %+v, want a alone", h.Checks)
	}
	g.mustWrite(t, "db=db", "m v=1 1")
	g.waitCaughtUp(t, 10*time.Second)
	if n := b.Count(t, "db", "m"); n != 0 {
		t.Errorf("b received %d points after a failed reload that would have added it", n)
	}

	taken.Close()
	try = next
	try.HTTP = append([]config.HTTPConfig(nil), next.HTTP...)
	if _, err := g.srv.Reload(&try); err != nil {
		t.Fatalf("retried reload: %v", err)
	}
	for _, addr := range []string{freeAddr, taken.Addr().String()} {
		if r := do(t, http.MethodGet, "http://"+addr+"/ping", ""); r.Status != http.StatusNoContent {
			t.Errorf("ping %s after the retried reload: %d", addr, r.Status)
		}
	}
	if _, h := g.health(t); len(h.Checks) != 2 {
		t.Errorf("outputs after the retried reload = %+v, want a and b", h.Checks)
	}
}
