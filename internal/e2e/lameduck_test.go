package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/server"
)

// lameDuckAnswers checks what a listener in its lame-duck phase answers:
// /health 503 in InfluxDB's shape saying it is shutting down, with every
// backend still listed; a write and a query still served; every response
// with Connection: close.
func lameDuckAnswers(t *testing.T, url string, backends int) {
	t.Helper()
	h, closes := doClose(t, http.MethodGet, url+"/health", "")
	var body struct {
		Name, Message, Status, Version string
		Checks                         []json.RawMessage
	}
	if err := json.Unmarshal([]byte(h.Body), &body); err != nil {
		t.Fatalf("/health: %v: %s", err, h.Body)
	}
	if h.Status != http.StatusServiceUnavailable || body.Status != "fail" || body.Name != "influxgate" ||
		!strings.Contains(body.Message, "shutting down") || len(body.Checks) != backends {
		t.Errorf("/health in the lame-duck phase: %d %s", h.Status, h.Body)
	}
	if !closes {
		t.Errorf("/health in the lame-duck phase: no Connection: close")
	}
	for _, r := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"write", http.MethodPost, "/write?db=db", "m v=1 1\n", http.StatusNoContent},
		{"query", http.MethodGet, "/query?db=db&q=SELECT+*+FROM+m", "", http.StatusOK},
		{"ping", http.MethodGet, "/ping", "", http.StatusNoContent},
	} {
		resp, closes := doClose(t, r.method, url+r.path, r.body)
		if resp.Status != r.want {
			t.Errorf("%s in the lame-duck phase: %d %s, want %d", r.name, resp.Status, resp.Body, r.want)
		}
		if !closes {
			t.Errorf("%s in the lame-duck phase: no Connection: close", r.name)
		}
	}
}

// doClose is do that also reports whether the answer closed the
// connection (Connection: close, which Go's client takes out of the
// header into Response.Close).
func doClose(t *testing.T, method, url, body string) (response, bool) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}, resp.Close
}

// The lame-duck phase (shutdown-delay): /health 503, everything else
// served, Connection: close on every response; LameDuck returns when the
// delay has passed, or at once when its context is done.
func TestLameDuckPhase(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	cfg := newConfig(t, a, b)
	cfg.ShutdownDelay = 1500 * time.Millisecond
	g := startGate(t, cfg)
	if r, closes := doClose(t, http.MethodGet, g.url+"/health", ""); r.Status != http.StatusOK || closes {
		t.Fatalf("/health before: %d (closes the connection: %v) %s", r.Status, closes, r.Body)
	}
	done := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		g.srv.LameDuck(context.Background())
		done <- time.Since(start)
	}()
	waitFor(t, 5*time.Second, "/health 503", func() bool {
		return do(t, http.MethodGet, g.url+"/health", "").Status == http.StatusServiceUnavailable
	})
	lameDuckAnswers(t, g.url, 2)
	if took := <-done; took < cfg.ShutdownDelay || took > cfg.ShutdownDelay+2*time.Second {
		t.Errorf("LameDuck returned after %v, want about %v", took, cfg.ShutdownDelay)
	}
	// Still serving until Run's context ends.
	g.mustWrite(t, "db=db", "m v=2 2\n")
	g.waitCaughtUp(t, 10*time.Second)
	samePoints(t, "db", []string{"m v=1 1", "m v=2 2"}, a, b)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	t0 := time.Now()
	g.srv.LameDuck(ctx)
	if took := time.Since(t0); took > 500*time.Millisecond {
		t.Errorf("LameDuck with a done context took %v", took)
	}
}

// shutdown-delay = 0 skips the phase: LameDuck returns at once and
// changes nothing.
func TestLameDuckZeroDelay(t *testing.T) {
	t.Parallel()
	a, _ := twoBackends(t, "")
	cfg := newConfig(t, a)
	cfg.ShutdownDelay = 0
	g := startGate(t, cfg)
	t0 := time.Now()
	g.srv.LameDuck(context.Background())
	if took := time.Since(t0); took > 200*time.Millisecond {
		t.Errorf("LameDuck with shutdown-delay 0 took %v", took)
	}
	if r, closes := doClose(t, http.MethodGet, g.url+"/health", ""); r.Status != http.StatusOK || closes {
		t.Errorf("/health after LameDuck with shutdown-delay 0: %d, closes the connection: %v", r.Status, closes)
	}
}

// SIGTERM begins the lame-duck phase; a second signal (here SIGINT) skips
// the rest of it, and influxgate exits 0 long before shutdown-delay.
func TestSecondSignalSkipsLameDuck(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	p := newProcGate(t, func(dataDir, addr string) string {
		return nativeConfig(dataDir, addr, "shutdown-delay = \"60s\"\n", "", a, b)
	})
	p.signal(syscall.SIGTERM)
	waitFor(t, 5*time.Second, "/health 503", func() bool {
		return do(t, http.MethodGet, p.url+"/health", "").Status == http.StatusServiceUnavailable
	})
	lameDuckAnswers(t, p.url, 2)
	t0 := time.Now()
	p.signal(syscall.SIGINT)
	if code := p.waitExit(); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if took := time.Since(t0); took > 10*time.Second {
		t.Errorf("influxgate took %v to exit after the second signal", took)
	}
	log := p.logText()
	for _, want := range []string{"lame duck: /health answers 503", "second signal: skipping the rest of the lame-duck delay", "msg=stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	samePoints(t, "db", []string{"m v=1 1"}, a, b)
}

// A listener removed by a reload serves its lame-duck delay before it
// closes; a reload that takes its name back waits for it to close and
// opens its log again.
func TestReloadRemovedListenerServesLameDuckDelay(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	cfg := newConfig(t, a, b)
	cfg.ShutdownDelay = 2 * time.Second
	keep := cfg.HTTP[0]
	keep.Name, keep.BindAddr = "keep", freeAddr(t)
	gone := cfg.HTTP[0]
	gone.Name, gone.BindAddr = "gone", freeAddr(t)
	cfg.HTTP = []config.HTTPConfig{keep, gone}
	g := startGate(t, cfg)
	waitFor(t, 5*time.Second, "both listeners serving", func() bool {
		return !notListening(keep.BindAddr) && do(t, http.MethodGet, "http://"+gone.BindAddr+"/ping", "").Status == http.StatusNoContent
	})

	next := *cfg
	next.HTTP = []config.HTTPConfig{keep}
	t0 := time.Now()
	if _, err := g.srv.Reload(&next); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took > time.Second {
		t.Errorf("the reload took %v: it waited for the removed listener", took)
	}
	lameDuckAnswers(t, "http://"+gone.BindAddr, 2)
	if r, closes := doClose(t, http.MethodGet, "http://"+keep.BindAddr+"/health", ""); r.Status != http.StatusOK || closes {
		t.Errorf("the kept listener: %d, closes the connection: %v", r.Status, closes)
	}
	waitFor(t, 10*time.Second, "the removed listener closed", func() bool { return notListening(gone.BindAddr) })
	if took := time.Since(t0); took < cfg.ShutdownDelay {
		t.Errorf("the removed listener closed %v after the reload, before its delay of %v", took, cfg.ShutdownDelay)
	}

	// Remove it and take it back at once: the second reload waits for the
	// first listener to close, then opens the same log and address.
	again := *cfg
	again.HTTP = []config.HTTPConfig{keep, gone}
	if _, err := g.srv.Reload(&again); err != nil {
		t.Fatal(err)
	}
	if _, err := g.srv.Reload(&next); err != nil {
		t.Fatal(err)
	}
	if _, err := g.srv.Reload(&again); err != nil {
		t.Fatalf("re-adding a listener still in its lame-duck delay: %v", err)
	}
	if r, closes := doClose(t, http.MethodPost, "http://"+gone.BindAddr+"/write?db=db", "m v=3 3\n"); r.Status != http.StatusNoContent || closes {
		t.Errorf("write to the re-added listener: %d %s, closes the connection: %v", r.Status, r.Body, closes)
	}
	g.stop()
	samePoints(t, "db", []string{"m v=1 1", "m v=3 3"}, a, b)
}

// Run's shutdown cuts short the delay of a listener a reload removed.
func TestShutdownClosesRetiringListeners(t *testing.T) {
	t.Parallel()
	a, _ := twoBackends(t, "")
	cfg := newConfig(t, a)
	cfg.ShutdownDelay = time.Minute
	extra := cfg.HTTP[0]
	extra.Name, extra.BindAddr = "extra", freeAddr(t)
	cfg.HTTP = append(cfg.HTTP, extra)
	srv, err := server.New(cfg, server.Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	next := *cfg
	next.HTTP = cfg.HTTP[:1]
	if _, err := srv.Reload(&next); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20s")
	}
	if took := time.Since(t0); took > 10*time.Second {
		t.Errorf("shutdown took %v with a listener in its lame-duck delay", took)
	}
	if !notListening(extra.BindAddr) {
		t.Error("the removed listener still listens after Run returned")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls cond every 20ms until it holds, failing after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// notListening reports whether nothing listens on addr any more.
func notListening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// A connection accepted just before the listener closes, whose request
// arrives while the shutdown has begun, gets its answer (with Connection:
// close), not a close without one: that is what a balancer without health
// checks (nginx) does when a node stops, and a POST it has sent is not
// retried.
func TestRequestOnConnectionOpenedAsShutdownBeginsIsAnswered(t *testing.T) {
	t.Parallel()
	a, _ := twoBackends(t, "db")
	cfg := newConfig(t, a)
	g := startGate(t, cfg)
	g.mustWrite(t, "db=db", "m v=0 0\n") // serving
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	time.Sleep(100 * time.Millisecond) // accepted, no request yet
	stopped := make(chan struct{})
	go func() { g.stop(); close(stopped) }()
	waitFor(t, 5*time.Second, "the listener closed", func() bool { return notListening(strings.TrimPrefix(g.url, "http://")) })
	body := "m v=1 1\n"
	fmt.Fprintf(conn, "POST /write?db=db HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	<-stopped // before any Fatal: the cleanup stops the gate too
	if err != nil {
		t.Fatalf("request sent as the shutdown began: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || !resp.Close {
		t.Errorf("request sent as the shutdown began: %d, closes the connection: %v", resp.StatusCode, resp.Close)
	}
	a.WaitCount(t, "db", "m", 2, 10*time.Second)
}

// Clients that open a new connection for every request while the node
// stops (a balancer without health checks, or any client after the
// lame-duck phase made it close its connections) are answered or
// refused, never reset after their connect succeeded: a connection still
// in the kernel's accept queue when the socket closes would be, with its
// POST already sent (package quiesce). Every answered write arrives.
func TestNewConnectionsDuringShutdownAreAnsweredOrRefused(t *testing.T) {
	t.Parallel()
	a, _ := twoBackends(t, "db")
	cfg := newConfig(t, a)
	g := startGate(t, cfg)
	addr := strings.TrimPrefix(g.url, "http://")

	const clients = 16
	type outcome struct {
		acked    int
		failures []string
	}
	results := make(chan outcome, clients)
	for w := range clients {
		go func() {
			var o outcome
			defer func() { results <- o }()
			for n := 0; ; n++ {
				conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
				if errors.Is(err, syscall.ECONNREFUSED) {
					return // closed for good: a balancer goes elsewhere
				}
				if err != nil {
					continue // not connected: nothing was sent
				}
				body := fmt.Sprintf("m,w=%d v=%d %d\n", w, n, n+1)
				fmt.Fprintf(conn, "POST /write?db=db HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				conn.Close()
				switch {
				case err != nil:
					o.failures = append(o.failures, err.Error())
				case resp.StatusCode != http.StatusNoContent:
					o.failures = append(o.failures, resp.Status)
				default:
					o.acked++
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	g.stop()
	acked, failed := 0, 0
	for range clients {
		o := <-results
		acked += o.acked
		failed += len(o.failures)
		for _, f := range o.failures {
			t.Errorf("a write whose connection was accepted by the kernel failed: %s", f)
		}
	}
	t.Logf("%d writes answered, %d failed", acked, failed)
	a.WaitCount(t, "db", "m", acked, 10*time.Second)
}
