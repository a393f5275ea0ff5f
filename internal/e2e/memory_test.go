package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// bombBody returns a gzip body of about 47 KB that inflates to 24 MB of
// lines without timestamps (so influxgate stamps every one of them), each
// line a series of its own in measurement m, and the number of lines.
func bombBody(t testing.TB, m string) ([]byte, int) {
	t.Helper()
	const inflated = 24_000_000
	value := strings.Repeat("x", 20_000)
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	n, lines := 0, 0
	for n < inflated {
		k, _ := fmt.Fprintf(zw, "%s,n=%d s=%q\n", m, lines, value)
		n += k
		lines++
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), lines
}

// procMemory reads VmHWM (peak RSS) and VmRSS of a process, in bytes.
func procMemory(t testing.TB, pid int) (hwm, rss int64) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("/proc/%d/status %s: %v", pid, k, err)
		}
		if k == "VmHWM" {
			hwm = kb << 10
		} else {
			rss = kb << 10
		}
	}
	if hwm == 0 || rss == 0 {
		t.Fatalf("/proc/%d/status has no VmHWM or VmRSS", pid)
	}
	return hwm, rss
}

// Issue 12, item 4: ten concurrent 47 KB gzip bodies that inflate to 24 MB
// each took influxgate to 2.7 GB. With the default config, the write memory
// budget keeps the peak under 512 MB: every write is answered 204 (and is
// then on every backend) or 503 with Retry-After (and is nowhere), and the
// process gives the memory back once the burst is over.
func TestGzipBombsStayWithinMemoryBudget(t *testing.T) {
	a, b := twoBackends(t, "db")
	p := newProcGate(t, func(dataDir, addr string) string { return nativeConfig(dataDir, addr, "", "", a, b) })
	pid := p.cmd.Process.Pid
	g := p.asGate()

	const requests = 10
	bodies := make([][]byte, requests)
	lines := make([]int, requests)
	for i := range bodies {
		bodies[i], lines[i] = bombBody(t, fmt.Sprintf("bomb%d", i))
	}
	t.Logf("each body: %d bytes gzipped, %d lines, ~24 MB inflated", len(bodies[0]), lines[0])
	hwm0, rss0 := procMemory(t, pid)
	t.Logf("before: VmHWM %d MB, VmRSS %d MB", hwm0>>20, rss0>>20)

	type answer struct {
		status     int
		retryAfter string
		body       string
	}
	answers := make([]answer, requests)
	client := &http.Client{Timeout: 2 * time.Minute}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range requests {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodPost, p.url+"/write?db=db", bytes.NewReader(bodies[i]))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Content-Encoding", "gzip")
			<-start
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			msg, _ := io.ReadAll(resp.Body)
			answers[i] = answer{resp.StatusCode, resp.Header.Get("Retry-After"), string(msg)}
		})
	}
	close(start)
	wg.Wait()
	hwm, _ := procMemory(t, pid)
	t.Logf("peak during the burst: VmHWM %d MB", hwm>>20)

	accepted, busy := 0, 0
	for i, ans := range answers {
		switch ans.status {
		case http.StatusNoContent:
			accepted++
		case http.StatusServiceUnavailable:
			busy++
			if ans.retryAfter == "" {
				t.Errorf("request %d: 503 without Retry-After: %s", i, ans.body)
			}
		default:
			t.Errorf("request %d: %d (Retry-After %q) %s", i, ans.status, ans.retryAfter, ans.body)
		}
	}
	if hwm >= 512<<20 {
		t.Errorf("peak RSS %d MB, want under 512 MB", hwm>>20)
	}
	if accepted == 0 {
		t.Errorf("no write accepted: the default budget must fit one 24 MB body")
	}

	t.Logf("%d accepted, %d answered 503", accepted, busy)
	// The budget's metrics: nothing held once every write is answered,
	// each 503 counted.
	metrics := do(t, http.MethodGet, p.url+"/metrics", "").Body
	for _, want := range []string{"influxgate_http_write_memory_bytes 0\n",
		"influxgate_http_write_memory_budget_bytes 1.34217728e+08\n",
		fmt.Sprintf("influxgate_http_write_memory_refused_total{reason=\"busy\"} %d\n", busy)} {
		if busy == 0 && strings.Contains(want, "refused") {
			continue
		}
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Every 204 is on both backends, whole; every refusal is nowhere.
	g.waitCaughtUp(t, 3*time.Minute)
	for i, ans := range answers {
		want := 0
		if ans.status == http.StatusNoContent {
			want = lines[i]
		}
		for _, s := range []*testinflux.Server{a, b} {
			if got := s.Count(t, "db", fmt.Sprintf("bomb%d", i)); got != want {
				t.Errorf("request %d (answered %d): %s holds %d points, want %d", i, ans.status, s.URL(), got, want)
			}
		}
	}

	// And the memory goes back to the system once the burst is over.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, rss := procMemory(t, pid)
		if rss < 160<<20 {
			t.Logf("once the burst is over: VmRSS %d MB", rss>>20)
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("VmRSS still %d MB 30 s after the burst, want under 160 MB", rss>>20)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
}
