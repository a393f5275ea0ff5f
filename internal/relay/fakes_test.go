package relay

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/wal"
)

// memLog is a fake log in memory: the tail and reader a worker reads,
// without files, so that worker tests run inside a synctest bubble.
type memLog struct {
	mu      sync.Mutex
	entries []wal.Entry // index i+1
	end     int64
	waiting []chan struct{}
}

func (l *memLog) append(t testing.TB, rec record.Record) uint64 {
	t.Helper()
	return l.appendRecord(rec)
}

func (l *memLog) appendRecord(rec record.Record) uint64 {
	data := rec.AppendEncode(nil)
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := uint64(len(l.entries) + 1)
	size := int64(len(data) + 16)
	l.entries = append(l.entries, wal.Entry{Index: idx, Offset: l.end, Size: size, Data: data})
	l.end += size
	for _, c := range l.waiting {
		close(c)
	}
	l.waiting = nil
	return idx
}

func (l *memLog) LastIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.entries))
}

func (l *memLog) EndOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end
}

func (l *memLog) Notify(after uint64) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := make(chan struct{})
	if uint64(len(l.entries)) > after {
		close(c)
		return c
	}
	l.waiting = append(l.waiting, c)
	return c
}

func (l *memLog) NewReader(from uint64) (LogReader, error) {
	return &memReader{l: l, next: from}, nil
}

type memReader struct {
	l    *memLog
	next uint64
}

func (r *memReader) Read(maxBytes int) ([]wal.Entry, error) {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	var out []wal.Entry
	n := 0
	for r.next <= uint64(len(r.l.entries)) {
		e := r.l.entries[r.next-1]
		if len(out) > 0 && n+len(e.Data) > maxBytes {
			break
		}
		out = append(out, e)
		n += len(e.Data)
		r.next++
	}
	return out, nil
}

func (r *memReader) Next() uint64 { return r.next }

func (r *memReader) Offset() int64 {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	if r.next <= uint64(len(r.l.entries)) {
		return r.l.entries[r.next-1].Offset
	}
	return r.l.end
}

func (r *memReader) Gaps() []wal.Gap      { return nil }
func (r *memReader) Seek(to uint64) error { r.next = to; return nil }
func (r *memReader) Close() error         { return nil }

// fakeSender is a backend that answers as its script says and remembers
// every request, in order.
type fakeSender struct {
	mu     sync.Mutex
	answer func(n int, b *backend.Batch, q *record.Record) backend.Result // n counts requests from 0
	sent   []sentRequest
	probes int
}

type sentRequest struct {
	at   time.Time
	body string // the batch's bodies joined, or the statement
	res  backend.Result
}

func (s *fakeSender) Write(ctx context.Context, b *backend.Batch) backend.Result {
	var body strings.Builder
	for _, p := range b.Bodies {
		body.Write(p)
	}
	return s.do(ctx, b, nil, body.String())
}

func (s *fakeSender) Exec(ctx context.Context, rec *record.Record) backend.Result {
	return s.do(ctx, nil, rec, string(rec.Body))
}

func (s *fakeSender) do(ctx context.Context, b *backend.Batch, q *record.Record, body string) backend.Result {
	s.mu.Lock()
	n := len(s.sent)
	answer := s.answer
	s.mu.Unlock()
	res := ok()
	if answer != nil {
		res = answer(n, b, q)
	}
	if ctx.Err() != nil {
		res = backend.Classify(0, nil, nil, ctx.Err())
	}
	s.mu.Lock()
	s.sent = append(s.sent, sentRequest{at: time.Now(), body: body, res: res})
	s.mu.Unlock()
	return res
}

func (s *fakeSender) Probe(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.probes++
	return nil
}

func (s *fakeSender) Close() {}

func (s *fakeSender) requests() []sentRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sentRequest(nil), s.sent...)
}

// accepted returns the bodies the backend accepted, in order, joined.
func (s *fakeSender) accepted() string {
	var b strings.Builder
	for _, r := range s.requests() {
		if r.res.Class == backend.Accepted {
			b.WriteString(r.body)
		}
	}
	return b.String()
}

func ok() backend.Result { return backend.Classify(http.StatusNoContent, nil, nil, nil) }

func answer(status int, msg string, hdr ...string) backend.Result {
	h := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	return backend.Classify(status, []byte(fmt.Sprintf("{\"error\":%q}\n", msg)), h, nil)
}

// fakePeers is the rest of a worker's set, as a test wants it.
type fakePeers struct {
	mu          sync.Mutex
	othersMask  uint64
	liveMask    uint64
	onlyTargets bool
}

func (p *fakePeers) others(rec *record.Record, self uint64) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rec.Only != "" {
		return 0
	}
	return p.othersMask
}

func (p *fakePeers) live() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.liveMask
}

// testRecord is a write of lines "m v=<first..>" with timestamps, received
// at the current (bubble) time.
func testRecord(db string, first, lines int) record.Record {
	var b strings.Builder
	for i := first; i < first+lines; i++ {
		fmt.Fprintf(&b, "m v=%d %d\n", i, i)
	}
	return record.Record{Kind: record.KindWrite, DB: db, Received: time.Now().UnixNano(),
		Lines: uint32(lines), Body: []byte(b.String())}
}

// testWorker builds a worker over log with sender, bit 1, and the usual
// test settings; tweak cfg before start.
func testWorker(t testing.TB, log *memLog, sender Sender, p peers, tr *tracker, cfg workerConfig) *worker {
	t.Helper()
	if cfg.name == "" {
		cfg.name = "b"
	}
	if cfg.bit == 0 {
		cfg.bit = 1
	}
	if cfg.maxBatch == 0 {
		cfg.maxBatch = 512 << 10
	}
	if cfg.maxDelay == 0 {
		cfg.maxDelay = 10 * time.Second
	}
	if cfg.liveLag == 0 {
		cfg.liveLag = time.Second
	}
	if cfg.deadLetterAfter == 0 {
		cfg.deadLetterAfter = 10 * time.Second
	}
	dir := t.TempDir()
	deps := workerDeps{sender: sender, source: log, verdicts: tr, peers: p,
		dead: &fileDeadLetters{dir: deadLetterDir(dir, cfg.name)}, store: FileState{Dir: dir}}
	w := newWorker(cfg, deps, 1)
	t.Cleanup(func() { _ = w.dead.Close() })
	return w
}

// runWorker runs w until the test's bubble ends.
func runWorker(t testing.TB, w *worker) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

type workerCounts struct{ rejected, dropped map[string]uint64 }

// counts reads the worker's refusal and drop counters under its lock.
func (w *worker) counts() workerCounts {
	w.mu.Lock()
	defer w.mu.Unlock()
	return workerCounts{cloneCounts(w.rejected), cloneCounts(w.dropped)}
}
