package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The fault suite's write load: every point is "load,w=<writer> v=<seq>i
// <ts>" with ts = loadBase+seq, unique across the run, so that a point is
// identified by its timestamp alone and carries its own check (v = seq).
const (
	loadMeasurement = "load"
	loadDB          = "faults"
	loadBase        = int64(1_600_000_000_000_000_000)
)

// outcome is what the client learnt about a point.
type outcome uint8

const (
	unsent     outcome = iota
	unanswered         // sent, no answer: connection error, influxgate killed, client timeout
	refused            // answered, not 2xx
	acked              // answered 2xx: influxgate promised delivery (G1)
)

// ledger records the outcome of every point sent, by sequence number.
type ledger struct {
	mu    sync.Mutex
	state []outcome
	acks  atomic.Int64
}

// reserve hands out n consecutive sequence numbers.
func (l *ledger) reserve(n int) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := int64(len(l.state))
	l.state = append(l.state, make([]outcome, n)...)
	return first
}

func (l *ledger) settle(first int64, n int, o outcome) {
	l.mu.Lock()
	for i := first; i < first+int64(n); i++ {
		l.state[i] = o
	}
	l.mu.Unlock()
	if o == acked {
		l.acks.Add(int64(n))
	}
}

func (l *ledger) snapshot() []outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]outcome(nil), l.state...)
}

// loadGen is a steady write load through influxgate from a few writers,
// each with its own way in: /write, /write gzipped, /api/v2/write, and
// /write with consistency=one.
type loadGen struct {
	url    string
	ledger *ledger
	batch  int
	pause  time.Duration
	client *http.Client

	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	statuses map[string]int // "204", "503", "error", ...
}

func newLoadGen(url string, l *ledger, batch int, pause time.Duration) *loadGen {
	return &loadGen{url: url, ledger: l, batch: batch, pause: pause, statuses: map[string]int{},
		client: &http.Client{Timeout: 30 * time.Second}}
}

// start runs writers until halt.
func (g *loadGen) start(writers int) {
	g.stop = make(chan struct{})
	for w := 0; w < writers; w++ {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.writer(w)
		}()
	}
}

func (g *loadGen) halt() {
	close(g.stop)
	g.wg.Wait()
}

func (g *loadGen) writer(w int) {
	var body bytes.Buffer
	for {
		select {
		case <-g.stop:
			return
		default:
		}
		first := g.ledger.reserve(g.batch)
		body.Reset()
		for i := first; i < first+int64(g.batch); i++ {
			fmt.Fprintf(&body, "%s,w=%d v=%di %d\n", loadMeasurement, w, i, loadBase+i)
		}
		o, key := g.post(w, body.Bytes())
		g.ledger.settle(first, g.batch, o)
		g.mu.Lock()
		g.statuses[key]++
		g.mu.Unlock()
		wait := g.pause
		if o == unanswered {
			wait += 50 * time.Millisecond // influxgate is probably restarting
		}
		select {
		case <-g.stop:
			return
		case <-time.After(wait):
		}
	}
}

func (g *loadGen) post(w int, body []byte) (outcome, string) {
	path := "/write?db=" + loadDB
	var hdr [][2]string
	switch w % 4 {
	case 1:
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = z.Bytes()
		hdr = append(hdr, [2]string{"Content-Encoding", "gzip"})
	case 2:
		path = "/api/v2/write?org=any&bucket=" + loadDB
		hdr = append(hdr, [2]string{"Authorization", "Token ignored"})
	case 3:
		path += "&consistency=one"
	}
	req, err := http.NewRequest(http.MethodPost, g.url+path, bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	for _, h := range hdr {
		req.Header.Set(h[0], h[1])
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return unanswered, "error"
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	key := strconv.Itoa(resp.StatusCode)
	if resp.StatusCode/100 == 2 {
		return acked, key
	}
	return refused, key
}

// status returns how many requests got each answer so far.
func (g *loadGen) status() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]int, len(g.statuses))
	for k, v := range g.statuses {
		out[k] = v
	}
	return out
}

// waitAcks waits until n more points were acknowledged, proving that the
// write path works again.
func (g *loadGen) waitAcks(t testing.TB, n int64, within time.Duration) {
	t.Helper()
	target := g.ledger.acks.Load() + n
	deadline := time.Now().Add(within)
	for g.ledger.acks.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("the load got no %d more acknowledgements within %v (answers so far: %v)", n, within, g.status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", k, m[k])
	}
	return b.String()
}
