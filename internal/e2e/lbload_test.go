package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// writeLoad is a steady write load on one address, as a fleet of Telegraf
// agents makes it: several clients, each with its own keep-alive
// connection pool (Go's http.Transport, which Telegraf uses), each sending
// one batch after another with a short pause. Every request's outcome is
// counted (anything but 204 is a failure) and every acknowledged point is
// remembered, as testinflux.Points renders it, so that a test can check
// that each one reached every backend.
type writeLoad struct {
	url   string
	db    string
	stop  chan struct{}
	wg    sync.WaitGroup
	start time.Time
	base  int64 // timestamp of point 0
	next  atomic.Int64

	mu       sync.Mutex
	requests int
	acked    []string
	failures []loadFailure
	elapsed  time.Duration
}

type loadFailure struct {
	at     time.Duration // since the load started
	client int
	what   string
}

// Load shape: clients × one batch of loadBatch points every loadPause
// (plus the request's own time).
const (
	loadClients = 8
	loadBatch   = 5
	loadPause   = 10 * time.Millisecond
)

// startWriteLoad starts the clients writing to url (http://host:port) into db,
// which must exist on the backends.
func startWriteLoad(t testing.TB, url, db string) *writeLoad {
	t.Helper()
	l := &writeLoad{url: url, db: db, stop: make(chan struct{}), start: time.Now(),
		base: time.Now().Add(-time.Hour).UnixNano()}
	for c := range loadClients {
		l.wg.Add(1)
		go l.client(c)
	}
	t.Cleanup(l.halt)
	return l
}

func (l *writeLoad) client(c int) {
	defer l.wg.Done()
	tr := &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var body strings.Builder
	points := make([]string, loadBatch)
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		body.Reset()
		for i := range points {
			id := l.next.Add(1)
			// A timestamp of its own per point: no point overwrites another.
			p := fmt.Sprintf("lb,client=c%d v=%di %d", c, id, l.base+id)
			points[i] = p
			body.WriteString(p)
			body.WriteByte('\n')
		}
		what := ""
		resp, err := hc.Post(l.url+"/write?db="+l.db, "text/plain; charset=utf-8", strings.NewReader(body.String()))
		if err != nil {
			what = err.Error()
		} else {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				what = fmt.Sprintf("HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
			}
		}
		l.mu.Lock()
		l.requests++
		if what == "" {
			l.acked = append(l.acked, points...)
		} else {
			l.failures = append(l.failures, loadFailure{at: time.Since(l.start), client: c, what: what})
		}
		l.mu.Unlock()
		select {
		case <-l.stop:
			return
		case <-time.After(loadPause):
		}
	}
}

// halt stops the clients and waits for their last requests (idempotent).
func (l *writeLoad) halt() {
	l.mu.Lock()
	select {
	case <-l.stop:
		l.mu.Unlock()
		return
	default:
	}
	close(l.stop)
	l.mu.Unlock()
	l.wg.Wait()
	l.mu.Lock()
	l.elapsed = time.Since(l.start)
	l.mu.Unlock()
}

// summary is one line: requests, failures and points, with the first
// failures.
func (l *writeLoad) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := fmt.Sprintf("%d requests from %d keep-alive clients in %s, %d failed, %d points acknowledged",
		l.requests, loadClients, l.elapsed.Round(100*time.Millisecond), len(l.failures), len(l.acked))
	for i, f := range l.failures {
		if i == 5 {
			s += fmt.Sprintf("; and %d more", len(l.failures)-i)
			break
		}
		s += fmt.Sprintf("; at %s client %d: %s", f.at.Round(time.Millisecond), f.client, f.what)
	}
	return s
}

func (l *writeLoad) failed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.failures)
}

// checkAcked fails the test unless every acknowledged point is on every
// backend and the backends hold the same points; it returns how many
// acknowledged points are missing in all.
func (l *writeLoad) checkAcked(t testing.TB, backends ...*testinflux.Server) int {
	t.Helper()
	l.mu.Lock()
	acked := append([]string(nil), l.acked...)
	l.mu.Unlock()
	missing := 0
	var first []string
	for i, b := range backends {
		have := map[string]bool{}
		for _, p := range b.Points(t, l.db) {
			have[p] = true
		}
		lost := 0
		for _, p := range acked {
			if !have[p] {
				lost++
				if len(first) < 5 {
					first = append(first, p)
				}
			}
		}
		if lost > 0 {
			t.Errorf("backend %d (%s) lacks %d of %d acknowledged points, e.g. %q", i, b.URL(), lost, len(acked), first)
		}
		missing += lost
	}
	if len(backends) > 1 {
		identical(t, l.db, backends...)
	}
	return missing
}
