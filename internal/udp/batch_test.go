package udp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/throttle"
	"github.com/influxgate/influxgate/internal/wal"
)

// writeSink is a fake backend's /write that records what it is sent. It
// checks the relay's side of the contract, not InfluxDB behaviour (the
// tests with a real influxd do that).
type writeSink struct {
	srv   *httptest.Server
	mu    sync.Mutex
	lines []string
	query []string // the query string of each request
}

func newWriteSink(t *testing.T) *writeSink {
	t.Helper()
	s := &writeSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.query = append(s.query, r.URL.RawQuery)
		lineproto.Lines(body, func(line []byte) bool {
			if lineproto.IsPoint(line) {
				s.lines = append(s.lines, string(line))
			}
			return true
		})
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// wait waits until the sink holds n lines and returns them.
func (s *writeSink) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		got := slices.Clone(s.lines)
		s.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("backend received %d lines, want %d", len(got), n)
			}
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// relayListener starts a listener with one HTTP output to sink, through a
// relay of its own, and returns both; the relay is closed after the
// listener at cleanup.
func relayListener(t *testing.T, sink *writeSink, opts Options) (*Listener, *relay.Relay) {
	t.Helper()
	c := config.Config{UDP: []config.UDPConfig{{Name: "udp", BindAddr: "127.0.0.1:0", Precision: "s",
		Database: "db", RetentionPolicy: "rp",
		Outputs: []config.OutputConfig{{Name: "a", Location: config.Location(sink.srv.URL + "/write"), MaxDelayInterval: time.Second}}}}}
	c.ApplyDefaults()
	r, err := relay.New(relay.Options{Name: "udp", Dir: t.TempDir(), Outputs: c.UDP[0].Outputs, Sync: wal.SyncNone})
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	opts.Config, opts.Relay = c.UDP[0], r
	l, err := Listen(opts)
	if err != nil {
		r.Close(context.Background())
		t.Fatal(err)
	}
	l.Start()
	t.Cleanup(func() {
		l.Close()
		r.Close(context.Background())
	})
	return l, r
}

func TestLinesOfManyPacketsShareOneLogRecord(t *testing.T) {
	sink := newWriteSink(t)
	// No timer flush during the test: only Close flushes.
	l, _ := relayListener(t, sink, Options{FlushInterval: time.Hour, Now: fixedClock(receipt)})
	conn := sender(t, l)
	var want []string
	for p := range 200 {
		var pkt strings.Builder
		for i := range 5 {
			fmt.Fprintf(&pkt, "m,p=%d,i=%d f=1\n", p, i)
			want = append(want, fmt.Sprintf("m,p=%d,i=%d f=1 1700000000", p, i))
		}
		if p == 100 {
			pkt.WriteString("malformed\n")
		}
		// The last line without '\n': packets are joined line by line.
		send(t, conn, strings.TrimSuffix(pkt.String(), "\n"))
	}
	waitPackets(t, l, 200)
	if st := l.Stats(); st.LogRecords != 0 {
		t.Fatalf("%d records appended before the batch was full or flushed", st.LogRecords)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.LogRecords != 1 || st.Logged != 1000 || st.Dropped[ReasonMalformed] != 1 {
		t.Errorf("stats = %+v, want 1000 lines in 1 record and 1 malformed line", st)
	}
	if got := sink.wait(t, 1000); !slices.Equal(got, want) {
		t.Errorf("backend received other lines than were sent:\ngot  %q\nwant %q", got[:5], want[:5])
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.query) != 1 || !strings.Contains(sink.query[0], "precision=s") ||
		!strings.Contains(sink.query[0], "db=db") || !strings.Contains(sink.query[0], "rp=rp") {
		t.Errorf("requests = %q, want one with db=db, rp=rp, precision=s", sink.query)
	}
}

// waitLogged waits until the listener has appended n lines to the log.
func waitLogged(t *testing.T, l *Listener, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.Stats().Logged < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d lines logged, want %d", l.Stats().Logged, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestABatchIsAppendedOnceItHoldsFlushBytes(t *testing.T) {
	sink := newWriteSink(t)
	l, _ := relayListener(t, sink, Options{FlushInterval: time.Hour, FlushBytes: 1000, Now: fixedClock(receipt)})
	conn := sender(t, l)
	line := "m,host=" + field(80) + " f=1i 1600000000\n" // 100 bytes
	// Packets go in pairs, each pair waited for: every pair makes a batch
	// of 1000 bytes, which is appended without a timer or Close. (Sent all
	// at once, a busy flusher could take 49 packets in one batch and leave
	// the 50th waiting for the timer, as it should.)
	for i := range 50 {
		send(t, conn, strings.Repeat(line, 5))
		if i%2 == 1 {
			waitLogged(t, l, uint64(i+1)*5)
		}
	}
	sink.wait(t, 250)
	send(t, conn, line)
	waitPackets(t, l, 51)
	if st := l.Stats(); st.Logged != 250 {
		t.Errorf("before Close: %d lines logged, want 250 (the last packet waits for more)", st.Logged)
	}
	l.Close()
	if st := l.Stats(); st.Logged != 251 || st.LogRecords < 2 {
		t.Errorf("stats = %+v, want 251 lines in at least 2 records", st)
	}
	sink.wait(t, 251)
}

func TestTheTimerFlushesAPartialBatch(t *testing.T) {
	sink := newWriteSink(t)
	l, _ := relayListener(t, sink, Options{FlushInterval: 10 * time.Millisecond})
	send(t, sender(t, l), "m f=1 1600000000\n")
	sink.wait(t, 1) // no Close, no size limit reached: only the timer sends it
}

func TestLinesBeyondMaxPendingAreDroppedAndCounted(t *testing.T) {
	b := newBatcher(nil, record.Record{DB: "db"}, time.Hour, 100, 250, throttle.New(slog.New(slog.DiscardHandler), 10*time.Second))
	line := []byte(field(99) + "\n")
	for i := range 5 {
		if ok := b.add(line, 1, receipt); ok != (i < 2) {
			t.Fatalf("add %d = %v", i, ok)
		}
	}
	if b.busy.Load() != 3 || b.cur.lines != 2 {
		t.Errorf("dropped %d, pending %d lines; want 3 and 2", b.busy.Load(), b.cur.lines)
	}
}
