package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// LoadConfig describes one closed-loop load.
type LoadConfig struct {
	Addr   string // host:port of the server under load
	Target string // request target, such as "/write?db=bench"
	Conns  int    // concurrent keep-alive connections
	// Bodies are sent in turn; connection i starts at body i.
	Bodies []Body
	Gzip   bool // the bodies are gzip: send Content-Encoding: gzip
	// Unique re-stamps every request's lines with fresh timestamps so no two
	// points of the run share a series and a timestamp (plain bodies only).
	// A real influxd can then count exactly what it stored.
	Unique   bool
	Warmup   time.Duration // requests finished before the window are not measured
	Duration time.Duration // the measured window
	Timeout  time.Duration // per request; 0 means 30 s
	// OnWindow, if set, is called with true as the measured window opens and
	// with false as it closes, both times before Run returns.
	OnWindow func(start bool)
}

// LoadResult is what a load measured. The window figures count only
// requests that finished inside the measured window; the totals count the
// whole run (warm-up, window and the requests in flight when it closed),
// which is what the backends must eventually receive.
type LoadResult struct {
	Window   time.Duration    `json:"window_ns"`
	Requests int64            `json:"requests"` // answered 2xx in the window
	Lines    int64            `json:"lines"`    // points in those requests
	Errors   map[string]int64 `json:"errors,omitempty"`
	Latency  Latency          `json:"latency"` // of the 2xx answers in the window

	TotalRequests int64 `json:"total_requests"`
	TotalLines    int64 `json:"total_lines"`
	TotalErrors   int64 `json:"total_errors"`
	// BodyCounts[i] is how many times Bodies[i] was answered 2xx over the
	// whole run, so that what each shard must receive can be worked out.
	BodyCounts []int64 `json:"-"`

	// HarnessCPU is the CPU this process (load generator and in-process
	// sinks) used during the window, in cores: near the number of cores it
	// may use means the harness, not the server, set the pace.
	HarnessCPU float64 `json:"harness_cpu_cores"`
}

// LinesPerSec is the accepted lines per second of the window.
func (r LoadResult) LinesPerSec() float64 { return perSec(r.Lines, r.Window) }

// RequestsPerSec is the accepted requests per second of the window.
func (r LoadResult) RequestsPerSec() float64 { return perSec(r.Requests, r.Window) }

// ErrorCount is the number of failed requests in the window.
func (r LoadResult) ErrorCount() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

func perSec(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// connStats is what one connection counted.
type connStats struct {
	requests, lines           int64
	totalRequests, totalLines int64
	totalErrors               int64
	errors                    map[string]int64
	bodyCounts                []int64
	samples                   []time.Duration
}

// RunLoad drives cfg.Addr until the window ends or ctx is cancelled.
func RunLoad(ctx context.Context, cfg LoadConfig) (LoadResult, error) {
	if cfg.Conns < 1 || len(cfg.Bodies) == 0 || cfg.Duration <= 0 {
		return LoadResult{}, errors.New("load needs at least one connection, one body and a duration")
	}
	if cfg.Unique && cfg.Gzip {
		return LoadResult{}, errors.New("unique timestamps need plain bodies")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	start := time.Now()
	winStart := start.Add(cfg.Warmup)
	winEnd := winStart.Add(cfg.Duration)

	var res LoadResult
	var winWG sync.WaitGroup
	winWG.Add(1)
	go func() {
		defer winWG.Done()
		self := os.Getpid()
		sleepUntil(ctx, winStart)
		cpu0, _ := CPUTime(self)
		if cfg.OnWindow != nil {
			cfg.OnWindow(true)
		}
		sleepUntil(ctx, winEnd)
		if cfg.OnWindow != nil {
			cfg.OnWindow(false)
		}
		cpu1, _ := CPUTime(self)
		res.HarnessCPU = (cpu1 - cpu0).Seconds() / cfg.Duration.Seconds()
	}()

	var next atomic.Int64 // next unique timestamp
	next.Store(time.Now().Add(-time.Hour).UnixNano())
	stats := make([]connStats, cfg.Conns)
	var wg sync.WaitGroup
	for i := range cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &client{addr: cfg.Addr, target: cfg.Target, gzip: cfg.Gzip, timeout: cfg.Timeout}
			defer c.close()
			var own Body
			if cfg.Unique {
				own = cfg.Bodies[i%len(cfg.Bodies)].Clone()
			}
			st := &stats[i]
			st.errors = map[string]int64{}
			st.bodyCounts = make([]int64, len(cfg.Bodies))
			for n := i; ctx.Err() == nil; n++ {
				bi := n % len(cfg.Bodies)
				body := cfg.Bodies[bi]
				if cfg.Unique {
					first := next.Add(int64(own.Lines)) - int64(own.Lines)
					own.Restamp(first)
					body, bi = own, i%len(cfg.Bodies)
				}
				t0 := time.Now()
				if !t0.Before(winEnd) {
					return
				}
				status, err := c.do(body.Data)
				t1 := time.Now()
				inWindow := !t1.Before(winStart) && t1.Before(winEnd)
				ok := err == nil && status/100 == 2
				switch {
				case ok:
					st.totalRequests++
					st.totalLines += int64(body.Lines)
					st.bodyCounts[bi]++
					if inWindow {
						st.requests++
						st.lines += int64(body.Lines)
						st.samples = append(st.samples, t1.Sub(t0))
					}
				default:
					st.totalErrors++
					if inWindow {
						st.errors[errorKey(status, err)]++
					}
					if err != nil {
						// Do not spin on a refused connection.
						time.Sleep(10 * time.Millisecond)
					}
				}
			}
		}()
	}
	wg.Wait()
	winWG.Wait()

	res.Window = cfg.Duration
	res.Errors = map[string]int64{}
	res.BodyCounts = make([]int64, len(cfg.Bodies))
	var all []time.Duration
	for _, st := range stats {
		for b, c := range st.bodyCounts {
			res.BodyCounts[b] += c
		}
		res.Requests += st.requests
		res.Lines += st.lines
		res.TotalRequests += st.totalRequests
		res.TotalLines += st.totalLines
		res.TotalErrors += st.totalErrors
		for k, v := range st.errors {
			res.Errors[k] += v
		}
		all = append(all, st.samples...)
	}
	res.Latency = summarize(all)
	return res, ctx.Err()
}

func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}

// errorKey names a failed request: its status code, or the kind of
// transport error.
func errorKey(status int, err error) string {
	switch {
	case err == nil:
		return strconv.Itoa(status)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case os.IsTimeout(err):
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.EPIPE):
		return "reset"
	default:
		return "conn"
	}
}

// client is one keep-alive HTTP/1.1 connection that sends pre-built POST
// requests (see the package doc for why it is not net/http's client).
type client struct {
	addr, target string
	gzip         bool
	timeout      time.Duration

	nc  net.Conn
	br  *bufio.Reader
	hdr []byte
}

// do sends body and returns the response status. Any error, or a response
// that closes the connection, drops the connection; the next call dials
// again.
func (c *client) do(body []byte) (int, error) {
	if c.nc == nil {
		nc, err := net.DialTimeout("tcp", c.addr, c.timeout)
		if err != nil {
			return 0, err
		}
		c.nc = nc
		if c.br == nil {
			c.br = bufio.NewReaderSize(nc, 16<<10)
		} else {
			c.br.Reset(nc)
		}
	}
	if err := c.nc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		c.close()
		return 0, err
	}
	c.hdr = append(c.hdr[:0], "POST "...)
	c.hdr = append(c.hdr, c.target...)
	c.hdr = append(c.hdr, " HTTP/1.1\r\nHost: "...)
	c.hdr = append(c.hdr, c.addr...)
	c.hdr = append(c.hdr, "\r\nUser-Agent: influxgate-bench\r\nContent-Type: text/plain; charset=utf-8\r\n"...)
	if c.gzip {
		c.hdr = append(c.hdr, "Content-Encoding: gzip\r\n"...)
	}
	c.hdr = append(c.hdr, "Content-Length: "...)
	c.hdr = strconv.AppendInt(c.hdr, int64(len(body)), 10)
	c.hdr = append(c.hdr, "\r\n\r\n"...)
	bufs := net.Buffers{c.hdr, body}
	if _, err := bufs.WriteTo(c.nc); err != nil {
		c.close()
		return 0, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		c.close()
		return 0, fmt.Errorf("read response body: %w", err)
	}
	if resp.Close {
		c.close()
	}
	return resp.StatusCode, nil
}

func (c *client) close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}
