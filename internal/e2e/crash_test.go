package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// (c) kill -9 of influxgate in the middle of a write load, restarted on the
// same data dir, several times, with a backend down in some rounds: every
// acknowledged point is on both backends in the end.
func TestKill9DuringWriteLoadLosesNothing(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	p := newProcGate(t, func(dataDir, addr string) string {
		return nativeConfig(dataDir, addr, "", "", a, b)
	})
	var (
		mu    sync.Mutex
		acked = map[int64]bool{}
		next  atomic.Int64
	)
	client := &http.Client{Timeout: 10 * time.Second}
	writer := func(stop <-chan struct{}, wg *sync.WaitGroup) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var body strings.Builder
			ts := make([]int64, 20)
			for i := range ts {
				ts[i] = next.Add(1)
				fmt.Fprintf(&body, "k,w=x v=%di %d\n", ts[i], ts[i])
			}
			resp, err := client.Post(p.url+"/write?db=db", "text/plain", strings.NewReader(body.String()))
			if err != nil {
				continue // influxgate was killed: not acknowledged
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				mu.Lock()
				for _, x := range ts {
					acked[x] = true
				}
				mu.Unlock()
			}
		}
	}
	const rounds = 6
	for round := 0; round < rounds; round++ {
		down := round%2 == 1
		if down {
			b.Stop(t)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go writer(stop, &wg)
		}
		time.Sleep(time.Duration(150+rand.IntN(400)) * time.Millisecond)
		p.kill()
		close(stop)
		wg.Wait()
		if down {
			b.Restart(t)
		}
		p.start()
	}
	g := p.asGate()
	g.waitCaughtUp(t, 2*time.Minute)
	if len(acked) < 1000 {
		t.Fatalf("only %d points acknowledged over %d rounds; the load did not run", len(acked), rounds)
	}
	for name, s := range map[string]interface {
		Points(testing.TB, string) []string
	}{"a": a, "b": b} {
		have := map[int64]bool{}
		for _, pt := range s.Points(t, "db") {
			x, _ := strconv.ParseInt(pt[strings.LastIndexByte(pt, ' ')+1:], 10, 64)
			have[x] = true
		}
		missing := 0
		for x := range acked {
			if !have[x] {
				missing++
			}
		}
		t.Logf("backend %s: %d acknowledged, %d stored, %d missing", name, len(acked), len(have), missing)
		if missing > 0 {
			t.Errorf("backend %s misses %d acknowledged points", name, missing)
		}
	}
}

// SIGTERM stops influxgate cleanly with exit code 0.
func TestSIGTERMExitsZero(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	p := newProcGate(t, func(dataDir, addr string) string {
		return nativeConfig(dataDir, addr, "", "", a, b)
	})
	p.asGate().mustWrite(t, "db=db", "s v=1 1\n")
	if code := p.terminate(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
	samePoints(t, "db", []string{"s v=1 1"}, a, b)
}
