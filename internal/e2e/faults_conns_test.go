package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// openFDs counts the file descriptors of a process.
func openFDs(t testing.TB, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("count fds: %v", err)
	}
	return len(ents)
}

// dialMany opens n connections that send nothing.
func dialMany(t testing.TB, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d of %d: %v", i, n, err)
		}
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return conns
}

// closedByServer waits up to within for the server to close c and reports
// whether it did.
func closedByServer(c net.Conn, within time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// writeOnce posts one write on a fresh connection.
func writeOnce(url, body string) (int, error) {
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Post(url+"/write?db="+loadDB, "text/plain", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// Thousands of connections that never send a request, clients that send
// their headers a byte at a time and one that sends its body a byte at a
// time: writers beside them are served at once, the server closes the
// first two kinds (ReadHeaderTimeout, 10 s) and its file descriptors come
// back; the slow body is accepted when it is complete.
func TestHostileIdleAndSlowConnections(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, loadDB)
	p := newProcGate(t, func(dataDir, addr string) string { return nativeConfig(dataDir, addr, "", "", a, b) })
	addr := strings.TrimPrefix(p.url, "http://")
	pid := p.cmd.Process.Pid
	base := openFDs(t, pid)

	idle := dialMany(t, addr, 2000)

	// Slowloris: headers trickled one byte every 300 ms.
	const slow = 50
	var trickling sync.WaitGroup
	var cutOff atomic.Int64
	for i := 0; i < slow; i++ {
		c := dialMany(t, addr, 1)[0]
		trickling.Add(1)
		go func() {
			defer trickling.Done()
			req := "POST /write?db=" + loadDB + " HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200)
			for j := 0; j < len(req); j++ {
				if _, err := c.Write([]byte{req[j]}); err != nil {
					cutOff.Add(1) // the server closed it
					return
				}
				time.Sleep(300 * time.Millisecond)
			}
		}()
	}

	// A body sent a byte every 100 ms: influxgate has no body read timeout
	// (InfluxDB has none either); the request must only not hold up others.
	slowBody := loadBody(5000, 1)
	sb := dialMany(t, addr, 1)[0]
	fmt.Fprintf(sb, "POST /write?db=%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", loadDB, len(slowBody))
	bodyDone := make(chan error, 1)
	go func() {
		for j := 0; j < len(slowBody); j++ {
			if _, err := sb.Write([]byte{slowBody[j]}); err != nil {
				bodyDone <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		bodyDone <- nil
	}()

	// Meanwhile ordinary writes are served.
	for i := int64(0); i < 10; i++ {
		if status, err := writeOnce(p.url, loadBody(i*10, 10)); err != nil || status != http.StatusNoContent {
			t.Fatalf("write beside %d idle and %d slow connections: %d %v", len(idle), slow, status, err)
		}
	}
	during := openFDs(t, pid)

	// The server closes every idle connection and every slowloris.
	open := 0
	for _, c := range idle {
		if !closedByServer(c, 40*time.Second) {
			open++
		}
	}
	trickling.Wait()
	if open > 0 {
		t.Errorf("%d of %d idle connections still open 40 s after they were opened", open, len(idle))
	}
	if cutOff.Load() != slow {
		t.Errorf("%d of %d slowloris clients were cut off before they finished their headers", cutOff.Load(), slow)
	}
	if err := <-bodyDone; err != nil {
		t.Fatalf("slow body: %v", err)
	}
	if a := readRawAnswer(t, bufio.NewReader(sb)); a.Status != http.StatusNoContent {
		t.Errorf("slow body: %d %s", a.Status, a.Body)
	}
	sb.Close()
	time.Sleep(200 * time.Millisecond)
	after := openFDs(t, pid)
	t.Logf("influxgate fds: %d at start, %d with %d idle connections, %d after they were closed", base, during, len(idle), after)
	if during < base+len(idle) {
		t.Errorf("influxgate held %d fds with %d idle connections open; the test did not reach it", during, len(idle))
	}
	if after > base+20 {
		t.Errorf("influxgate holds %d fds after the connections were closed, %d before", after, base)
	}
	g := p.asGate()
	g.waitCaughtUp(t, 30*time.Second)
	for _, s := range []struct {
		name string
		n    int
	}{{"a", a.Count(t, loadDB, loadMeasurement)}, {"b", b.Count(t, loadDB, loadMeasurement)}} {
		if s.n != 101 {
			t.Errorf("backend %s holds %d points, want 101", s.name, s.n)
		}
	}
}

// With max-connection-limit, a connection beyond the limit is closed at
// once (as InfluxDB does), counted, and served again once the idle ones
// are gone: closed by their clients or by the header timeout.
func TestHostileConnectionLimit(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, loadDB)
	const limit = 50
	p := newProcGate(t, func(dataDir, addr string) string {
		return strings.Replace(nativeConfig(dataDir, addr, "", "", a, b), "[[http]]\n",
			fmt.Sprintf("[[http]]\nmax-connection-limit = %d\n", limit), 1)
	})
	addr := strings.TrimPrefix(p.url, "http://")
	idle := dialMany(t, addr, limit)
	time.Sleep(300 * time.Millisecond) // let the server accept them
	extra := dialMany(t, addr, 1)[0]
	if !closedByServer(extra, 5*time.Second) {
		t.Fatal("a connection beyond max-connection-limit was kept open")
	}
	if status, err := writeOnce(p.url, loadBody(0, 1)); err == nil {
		t.Fatalf("a write beyond the limit was answered %d", status)
	}
	for _, c := range idle {
		c.Close()
	}
	waitWrite := func(first int64) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			status, err := writeOnce(p.url, loadBody(first, 1))
			if err == nil && status == http.StatusNoContent {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no write served after the limit freed up: %d %v", status, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitWrite(1)
	// Idle clients that keep their connections are closed by the header
	// timeout, and the limit frees itself.
	dialMany(t, addr, limit)
	time.Sleep(300 * time.Millisecond)
	waitWrite(2)
	r := do(t, http.MethodGet, p.url+"/metrics", "")
	if !strings.Contains(r.Body, `influxgate_http_connections_refused_total{listener="http"}`) {
		t.Error("/metrics lacks influxgate_http_connections_refused_total")
	}
	p.asGate().waitCaughtUp(t, 30*time.Second)
	samePoints(t, loadDB, []string{
		fmt.Sprintf("load,w=0 v=1i %d", loadBase+1), fmt.Sprintf("load,w=0 v=2i %d", loadBase+2)}, a, b)
}
