package e2e

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// faultMode is what fakeFaultProxy does to a request.
type faultMode int

const (
	modePass          faultMode = iota // forward to influxd and relay its answer
	modeDelay                          // forward after Delay
	modeHang                           // read the request, never answer (until the fault changes)
	modeStatus                         // answer Status (500, 503, 429) with Retry-After; nothing forwarded
	modeResetRequest                   // read half of the body, then reset the connection
	modeResetResponse                  // forward, then reset the connection in the middle of the answer
	modeNULHeader                      // forward, answer influxd's status with NUL bytes in a header
	modeGarbage                        // answer bytes that are not HTTP; nothing forwarded
	modeStall                          // forward, send the headers and half the answer, then hang
)

func (m faultMode) String() string {
	return [...]string{"pass", "delay", "hang", "status", "reset-request", "reset-response",
		"nul-header", "garbage", "stall"}[m]
}

// fault is one fault setting of a fakeFaultProxy.
type fault struct {
	Mode       faultMode
	Delay      time.Duration // modeDelay
	Status     int           // modeStatus
	RetryAfter int           // modeStatus: seconds, sent as Retry-After when > 0
	// Rate is the fraction of requests affected; 0 means every request.
	Rate float64
	// Path limits the fault to requests whose path has this prefix ("" = all
	// but /ping, which stays healthy so that start-up probes work; "/ping"
	// = /ping only).
	Path string
}

func (f fault) String() string {
	s := f.Mode.String()
	switch f.Mode {
	case modeDelay:
		s += " " + f.Delay.String()
	case modeStatus:
		s += " " + strconv.Itoa(f.Status)
		if f.RetryAfter > 0 {
			s += fmt.Sprintf(" Retry-After %ds", f.RetryAfter)
		}
	}
	if f.Rate > 0 {
		s += fmt.Sprintf(" (%.0f%% of requests)", f.Rate*100)
	}
	return s
}

// fakeFaultProxy is a fake backend: an HTTP proxy in front of a real
// influxd that injects the faults a real server does not produce on demand
// (hangs, slow answers, 5xx/429 with Retry-After, connection resets in the
// middle of a request or an answer, malformed headers, garbage). The data
// path still ends in the real influxd: whatever it forwards is stored there
// and answered by it.
//
// It also counts, per point of the fault suite's load (measurement "load",
// identified by its timestamp), how often influxd accepted it through the
// proxy, so the audit can tell points delivered more than once; and it
// checks that a client honours Retry-After.
type fakeFaultProxy struct {
	t        testing.TB
	name     string
	upstream string // influxd base URL
	srv      *httptest.Server
	client   *http.Client

	mu       sync.Mutex
	f        fault
	changed  chan struct{} // closed when the fault changes
	injected map[string]int
	requests int
	landed   []uint16 // by load sequence number: times influxd accepted the point
	// notBefore is when the client may send the next write after a
	// Retry-After answer; earlyRetries counts writes that came sooner.
	notBefore    time.Time
	earlyRetries int
}

func newFakeFaultProxy(t testing.TB, name, upstream string) *fakeFaultProxy {
	t.Helper()
	p := &fakeFaultProxy{t: t, name: name, upstream: strings.TrimSuffix(upstream, "/"),
		changed: make(chan struct{}), injected: map[string]int{},
		client: &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16}}}
	p.srv = httptest.NewServer(p)
	t.Cleanup(func() {
		p.set(fault{}) // releases hung requests
		p.srv.CloseClientConnections()
		p.srv.Close()
		p.client.CloseIdleConnections()
	})
	return p
}

// URL is the proxy's base URL; WriteURL its /write.
func (p *fakeFaultProxy) URL() string      { return p.srv.URL }
func (p *fakeFaultProxy) WriteURL() string { return p.srv.URL + "/write" }

// set changes the fault; requests hanging under the old one are released
// (their connections reset).
func (p *fakeFaultProxy) set(f fault) {
	p.mu.Lock()
	p.f = f
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// forgetRetryAfter drops the Retry-After deadline: a restarted influxgate
// cannot know what its predecessor was told.
func (p *fakeFaultProxy) forgetRetryAfter() {
	p.mu.Lock()
	p.notBefore = time.Time{}
	p.mu.Unlock()
}

// stats returns the faults injected by kind, requests seen (but /ping) and
// writes that came before a Retry-After deadline.
func (p *fakeFaultProxy) stats() (injected map[string]int, requests, earlyRetries int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.injected))
	for k, v := range p.injected {
		out[k] = v
	}
	return out, p.requests, p.earlyRetries
}

// landedCounts returns, by load sequence number, how often influxd
// accepted each point.
func (p *fakeFaultProxy) landedCounts() []uint16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]uint16(nil), p.landed...)
}

func (p *fakeFaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	f, changed := p.f, p.changed
	if r.URL.Path != "/ping" {
		p.requests++
	}
	isWrite := strings.HasSuffix(r.URL.Path, "/write")
	if isWrite && !p.notBefore.IsZero() && time.Now().Before(p.notBefore) {
		p.earlyRetries++
	}
	applies := f.Mode != modePass && (r.URL.Path != "/ping" || f.Path == "/ping") && strings.HasPrefix(r.URL.Path, f.Path) &&
		(f.Rate == 0 || rand.Float64() < f.Rate)
	if applies {
		p.injected[f.String()]++
	}
	p.mu.Unlock()
	if applies && f.Mode == modeResetRequest {
		// Read half of the body and reset while the client may still be
		// sending the rest, as if the server died half way through.
		_, _ = io.CopyN(io.Discard, r.Body, max(r.ContentLength/2, 1))
		reset(w)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		reset(w)
		return
	}
	if !applies {
		p.forward(w, r, body)
		return
	}
	switch f.Mode {
	case modeDelay:
		select {
		case <-time.After(f.Delay):
			p.forward(w, r, body)
		case <-r.Context().Done():
		}
	case modeHang:
		select {
		case <-changed:
		case <-r.Context().Done():
		}
		reset(w) // never an answer: an empty 200 would look like success
	case modeStatus:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
			if isWrite {
				p.mu.Lock()
				p.notBefore = time.Now().Add(time.Duration(f.RetryAfter) * time.Second)
				p.mu.Unlock()
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		fmt.Fprintf(w, "{\"error\":\"fake fault: %d\"}\n", f.Status)
	case modeResetResponse:
		status, _, ok := p.roundTrip(r, body)
		if !ok {
			reset(w)
			return
		}
		raw(w, fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: appl", status, http.StatusText(status)), true)
	case modeNULHeader:
		status, answer, ok := p.roundTrip(r, body)
		if !ok {
			reset(w)
			return
		}
		raw(w, fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nX-Influxdb-Error: bad \x00\x01 bytes \x00\r\n"+
			"Content-Length: %d\r\nConnection: close\r\n\r\n%s", status, http.StatusText(status), len(answer), answer), false)
	case modeGarbage:
		raw(w, "\x00\x01\x02 this is not HTTP\r\n\r\n", false)
	case modeStall:
		status, answer, ok := p.roundTrip(r, body)
		if !ok {
			reset(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		w.WriteHeader(status)
		_, _ = w.Write(answer[:len(answer)/2])
		_ = http.NewResponseController(w).Flush()
		select {
		case <-changed:
		case <-r.Context().Done():
		}
		reset(w)
	default:
		p.forward(w, r, body)
	}
}

// forward relays the request to influxd and its answer back.
func (p *fakeFaultProxy) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		reset(w)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		// influxd down or hung and the client gone: the client must see a
		// connection failure, as it would without the proxy.
		reset(w)
		return
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		reset(w)
		return
	}
	p.count(r, body, resp.StatusCode)
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// roundTrip forwards and returns influxd's status and body.
func (p *fakeFaultProxy) roundTrip(r *http.Request, body []byte) (int, []byte, bool) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, false
	}
	req.Header = r.Header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, false
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, false
	}
	p.count(r, body, resp.StatusCode)
	return resp.StatusCode, answer, true
}

// count notes the load points of a write influxd accepted.
func (p *fakeFaultProxy) count(r *http.Request, body []byte, status int) {
	if status/100 != 2 || !strings.HasSuffix(r.URL.Path, "/write") {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if !bytes.HasPrefix(line, []byte(loadMeasurement+",")) {
			continue
		}
		ts, err := strconv.ParseInt(string(line[bytes.LastIndexByte(line, ' ')+1:]), 10, 64)
		if seq := ts - loadBase; err == nil && seq >= 0 && seq < 1<<32 {
			if int64(len(p.landed)) <= seq {
				p.landed = append(p.landed, make([]uint16, seq+1-int64(len(p.landed))+1<<16)...)
			}
			p.landed[seq]++
		}
	}
}

// reset aborts the connection with a TCP reset, without an answer.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic("fakeFaultProxy: cannot hijack: " + err.Error()) // httptest's server always can
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// raw writes bytes straight to the connection and closes it, with a reset
// when cut is set.
func raw(w http.ResponseWriter, s string, cut bool) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic("fakeFaultProxy: cannot hijack: " + err.Error())
	}
	_, _ = buf.WriteString(s)
	_ = buf.Flush()
	if tc, ok := conn.(*net.TCPConn); ok && cut {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}
