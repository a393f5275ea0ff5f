package e2e

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

type named struct {
	name string
	srv  *testinflux.Server
}

// configWith renders a native config whose outputs are the given named
// backends.
func configWith(dataDir, addr, extra string, outs ...named) string {
	var b strings.Builder
	fmt.Fprintf(&b, "data-dir = %q\nwrite-timeout = \"5s\"\n%s\n[[http]]\nname = \"http\"\nbind-addr = %q\noutput = [\n", dataDir, extra, addr)
	for _, o := range outs {
		fmt.Fprintf(&b, "  { name = %q, location = %q, max-delay-interval = \"1s\" },\n", o.name, o.srv.WriteURL())
	}
	b.WriteString("]\n")
	return b.String()
}

// SIGHUP adds and removes backends without a restart, keeps the log and
// every other backend's cursor, and refuses an invalid config.
func TestReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	var dataDir, addr string
	p := newProcGate(t, func(d, ad string) string {
		dataDir, addr = d, ad
		return configWith(d, ad, "", named{"a", a})
	})
	g := p.asGate()
	hup := func(text string) {
		t.Helper()
		if err := os.WriteFile(p.cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	waitChecks := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, h := g.health(t)
			var names []string
			for _, c := range h.Checks {
				names = append(names, c.Name)
			}
			if strings.Join(names, ",") == strings.Join(want, ",") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/health lists %v after the reload, want %v", names, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	g.mustWrite(t, "db=db", "p v=1 1\n")
	a.Stop(t)
	g.mustWrite(t, "db=db", "p v=2 2\n") // waits in the log for a

	hup(configWith(dataDir, addr, "", named{"a", a}, named{"b", b}))
	waitChecks("a", "b")
	g.mustWrite(t, "db=db", "p v=3 3\n")
	a.Restart(t)
	g.waitCaughtUp(t, 30*time.Second)
	// a kept its cursor: it got what it missed; b started at the head.
	samePoints(t, "db", []string{"p v=1 1", "p v=2 2", "p v=3 3"}, a)
	samePoints(t, "db", []string{"p v=3 3"}, b)

	// An invalid config is refused and the running one stays.
	hup(configWith(dataDir, addr, "bogus-key = 1", named{"b", b}))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(readFile(t, p.log.Name()), "reload refused") {
		if time.Now().After(deadline) {
			t.Fatal("no log line refusing the invalid config")
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitChecks("a", "b")
	if !strings.Contains(readFile(t, p.log.Name()), `unknown key \"bogus-key\"`) {
		t.Errorf("the refusal does not name the bad key:\n%s", readFile(t, p.log.Name()))
	}

	// Removing a: b goes on, a's cursor is forgotten.
	hup(configWith(dataDir, addr, "", named{"b", b}))
	waitChecks("b")
	g.mustWrite(t, "db=db", "p v=4 4\n")
	g.waitCaughtUp(t, 10*time.Second)
	samePoints(t, "db", []string{"p v=3 3", "p v=4 4"}, b)
	if n := a.Count(t, "db", "p"); n != 3 {
		t.Errorf("the removed backend got %d points, want still 3", n)
	}
	if code := p.terminate(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
