package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func startSink(t *testing.T, opts SinkOptions) *Sink {
	t.Helper()
	s, err := StartSink("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func post(t *testing.T, url string, body []byte, gz bool) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

func TestSinkCounts(t *testing.T) {
	s := startSink(t, SinkOptions{})
	body := []byte("cpu v=1 1\ncpu v=2 2\ncpu v=3 3") // last line unterminated
	status, h := post(t, s.URL(), body, false)
	if status != http.StatusNoContent {
		t.Fatalf("status %d", status)
	}
	if h.Get("X-Influxdb-Version") == "" || h.Get("Request-Id") == "" {
		t.Errorf("missing InfluxDB headers: %v", h)
	}
	if status, _ := post(t, s.URL(), gzipped(t, body), true); status != http.StatusNoContent {
		t.Fatalf("gzip status %d", status)
	}
	// Blank lines and comments are not points.
	odd := []byte("\ncpu v=1 1\n\n# note\ncpu v=2 2\n")
	if status, _ := post(t, s.URL(), odd, false); status != http.StatusNoContent {
		t.Fatalf("status %d", status)
	}
	got := s.Stats()
	want := SinkStats{Requests: 3, Lines: 8, Bytes: int64(2*len(body) + len(odd))}
	if got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
	s.Reset()
	if (s.Stats() != SinkStats{}) {
		t.Errorf("Reset left %+v", s.Stats())
	}
}

func TestCountLines(t *testing.T) {
	for _, tc := range []struct {
		body string
		want int
	}{
		{"", 0},
		{"a v=1", 1},
		{"a v=1\n", 1},
		{"a v=1\nb v=2\n", 2},
		{"a v=1\n\nb v=2", 2},
		{"\na v=1\n", 1},
		{"a v=1\n\n\n", 1},
	} {
		if got := countLines([]byte(tc.body)); got != tc.want {
			t.Errorf("countLines(%q) = %d, want %d", tc.body, got, tc.want)
		}
	}
}

func TestSinkFailRate(t *testing.T) {
	s := startSink(t, SinkOptions{FailRate: 1})
	if status, _ := post(t, s.URL(), []byte("cpu v=1 1\n"), false); status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", status)
	}
	if st := s.Stats(); st.Failed != 1 || st.Lines != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestSinkDownAndUp(t *testing.T) {
	s := startSink(t, SinkOptions{Down: true})
	if status, _ := post(t, s.URL(), []byte("cpu v=1 1\n"), false); status != 0 {
		t.Fatalf("down sink answered %d", status)
	}
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	if status, _ := post(t, s.URL(), []byte("cpu v=1 1\n"), false); status != http.StatusNoContent {
		t.Fatalf("sink that came back answered %d", status)
	}
	if err := s.Down(); err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
	if status, _ := post(t, s.URL(), []byte("cpu v=1 1\n"), false); status != 0 {
		t.Fatalf("sink taken down answered %d", status)
	}
	if got := s.Stats().Lines; got != 1 {
		t.Errorf("lines = %d, want 1", got)
	}
}

func TestSinkUpAfter(t *testing.T) {
	s := startSink(t, SinkOptions{Down: true, UpAfter: 50 * time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if status, _ := post(t, s.URL(), []byte("cpu v=1 1\n"), false); status == http.StatusNoContent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sink never came up")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSinkDelay(t *testing.T) {
	s := startSink(t, SinkOptions{Delay: 30 * time.Millisecond})
	begin := time.Now()
	if status, _ := post(t, s.URL(), []byte("cpu v=1 1\n"), false); status != http.StatusNoContent {
		t.Fatalf("status %d", status)
	}
	// A lower bound only: the delay is a minimum by construction.
	if el := time.Since(begin); el < 30*time.Millisecond {
		t.Errorf("answered after %v, before the delay", el)
	}
}

func TestServeSink(t *testing.T) {
	file := t.TempDir() + "/addr"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeSink(ctx, "127.0.0.1:0", file) }()
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; {
		if b, err := readFileString(file); err == nil && strings.HasSuffix(b, "\n") {
			addr = strings.TrimSpace(b)
		} else if time.Now().After(deadline) {
			t.Fatal("no address written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if status, _ := post(t, "http://"+addr+"/write", []byte("cpu v=1 1\n"), false); status != http.StatusNoContent {
		t.Fatalf("status %d", status)
	}
	resp, err := http.Get("http://" + addr + "/bench/stats")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(b.String(), `"lines":1`) {
		t.Errorf("stats = %s", b.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
