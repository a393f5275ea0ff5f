package ingest

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
)

// The inflater is klauspost/compress's, InfluxDB's is the standard
// library's: a bad gzip body must get the text influxd would give. The
// bodies go through one handler in turn, so pooled readers are reused
// after each kind of failure, and the good bodies between them must still
// arrive whole.
func TestGzipErrorsReadAsTheStandardLibrarys(t *testing.T) {
	good := func(lines string) []byte {
		var b bytes.Buffer
		zw := stdgzip.NewWriter(&b)
		zw.Write([]byte(lines))
		zw.Close()
		return b.Bytes()
	}
	valid := good("cpu v=1 1\ncpu v=2 2\n")
	badCRC := bytes.Clone(valid)
	badCRC[len(badCRC)-8] ^= 0xff
	badData := bytes.Clone(valid)
	badData[10] = 0x07 // a block of the reserved type 3
	bodies := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"not gzip", []byte("cpu v=1 1\n")},
		{"header cut", valid[:5]},
		{"stream cut", valid[:len(valid)/2]},
		{"trailer cut", valid[:len(valid)-3]},
		{"bad checksum", badCRC},
		{"bad deflate", badData},
		{"garbage after", append(bytes.Clone(valid), "garbage"...)},
	}
	w := &acceptingWriter{}
	h := New(w, Options{MaxBodySize: 1 << 20})
	for _, c := range bodies {
		want := stdlibGzipError(c.body)
		if want == "" {
			t.Fatalf("%s: the standard library reads it", c.name)
		}
		rr := post(h.ServeV1, "/write?db=db", c.body, "Content-Encoding", "gzip")
		if rr.Code != http.StatusBadRequest || errorText(t, rr) != want {
			t.Errorf("%s: %d %q, want 400 %q", c.name, rr.Code, rr.Body.Bytes(), want)
		}
		n := len(w.recs)
		if rr := post(h.ServeV1, "/write?db=db", valid, "Content-Encoding", "gzip"); rr.Code != http.StatusNoContent ||
			len(w.recs) != n+1 || string(w.recs[n].Body) != "cpu v=1 1\ncpu v=2 2\n" {
			t.Fatalf("good body after %s: %d %q", c.name, rr.Code, rr.Body.Bytes())
		}
	}
}

// stdlibGzipError is the error compress/gzip gives reading body whole,
// with io.EOF from an empty body read as readBody words it.
func stdlibGzipError(body []byte) string {
	zr, err := stdgzip.NewReader(bytes.NewReader(body))
	if err == nil {
		_, err = io.ReadAll(zr)
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// With one P, a handler inflating a large body must let a goroutine that
// became ready meanwhile (a backend's answer, in the relay) run long before
// it is done: readBodyAs yields every yieldEvery bytes. Here another
// goroutine counts its turns while 8 MiB are inflated: about one per
// yield (256). Without the yields it would get a turn only at the
// runtime's preemption, every 10 ms: a few turns, some 16 under the race
// detector.
func TestReadingALargeBodyLetsOthersRun(t *testing.T) {
	var lines bytes.Buffer
	for i := 0; lines.Len() < 8<<20; i++ {
		fmt.Fprintf(&lines, "cpu,host=server%d,region=eu usage_user=%d.5,usage_system=%di %d\n", i%1000, i, i, 1700000000000000000+i)
	}
	var gz bytes.Buffer
	zw := stdgzip.NewWriter(&gz)
	zw.Write(lines.Bytes())
	zw.Close()

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	req := httptest.NewRequest(http.MethodPost, "/write?db=db", bytes.NewReader(gz.Bytes()))
	req.ContentLength = -1 // read it as it comes, as a chunked body
	l := NewBudget(1<<30, nil).lease(context.Background())
	defer l.close()
	var done atomic.Bool
	turns := make(chan int, 1)
	go func() { // ready now; it runs whenever the P is free
		n := 0
		for !done.Load() {
			n++
			runtime.Gosched()
		}
		turns <- n
	}()
	buf, err := readBodyAs(req, true, 1<<30, &l)
	done.Store(true)
	if err != nil {
		t.Fatal(err)
	}
	defer freeBuffer(buf)
	if len(buf.b) != lines.Len() {
		t.Fatalf("read %d bytes, want %d", len(buf.b), lines.Len())
	}
	if n := <-turns; n < 64 {
		t.Errorf("another goroutine got %d turns while %d bytes were inflated; want one every %d bytes or so", n, len(buf.b), yieldEvery)
	}
}

// A gzip body is read whole before it is inflated. Its compressed copy is
// charged to the lease while it is inflated and let go after: the lease
// then holds the inflated body's buffer only. A chunked body whose
// compressed bytes alone are over the limit is refused as one with that
// Content-Length is.
func TestGzipBodyIsReadWholeThenLetGo(t *testing.T) {
	var lines bytes.Buffer
	for i := 0; lines.Len() < 300<<10; i++ {
		fmt.Fprintf(&lines, "cpu,host=server%d usage=%d.5 %d\n", i%100, i, 1700000000000000000+i)
	}
	var gz bytes.Buffer
	zw := stdgzip.NewWriter(&gz)
	zw.Write(lines.Bytes())
	zw.Close()

	for _, chunked := range []bool{false, true} {
		req := httptest.NewRequest(http.MethodPost, "/write?db=db", bytes.NewReader(gz.Bytes()))
		if chunked {
			req.ContentLength = -1
		}
		l := NewBudget(1<<30, nil).lease(context.Background())
		buf, err := readBodyAs(req, true, 1<<20, &l)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.b, lines.Bytes()) {
			t.Fatalf("chunked=%v: inflated %d bytes, want the %d written", chunked, len(buf.b), lines.Len())
		}
		if l.held != int64(cap(buf.b)) {
			t.Errorf("chunked=%v: the lease holds %d bytes after inflating, want only the body's %d", chunked, l.held, cap(buf.b))
		}
		freeBuffer(buf)
		l.close()
	}

	// Random bytes do not compress: the gzip body is longer than the
	// inflated one, which is under the limit.
	random := make([]byte, 200<<10)
	rand.NewChaCha8([32]byte{1}).Read(random)
	gz.Reset()
	zw = stdgzip.NewWriter(&gz)
	zw.Write(random)
	zw.Close()
	limit := int64(len(gz.Bytes())) - 1
	if int64(len(random)) > limit {
		t.Fatalf("the random bytes compressed to %d bytes", gz.Len())
	}
	for _, chunked := range []bool{false, true} {
		req := httptest.NewRequest(http.MethodPost, "/write?db=db", bytes.NewReader(gz.Bytes()))
		if chunked {
			req.ContentLength = -1
		}
		l := NewBudget(1<<30, nil).lease(context.Background())
		if _, err := readBodyAs(req, true, limit, &l); err != errTooLarge {
			t.Errorf("chunked=%v: %d compressed bytes with a limit of %d: %v, want %v", chunked, gz.Len(), limit, err, errTooLarge)
		}
		l.close()
	}
}

// BenchmarkReadGzipBody reads and inflates a 5,000-line body like the
// bench's gzip scenario sends, as a handler does.
func BenchmarkReadGzipBody(b *testing.B) {
	var lines bytes.Buffer
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&lines, "cpu,host=server%02d,region=eu-west,cpu=cpu%d usage_user=%d.5,usage_system=%d.25,usage_idle=%di %d\n",
			i%50, i%8, i%100, i%37, i%1000, 1700000000000000000+int64(i)*1000)
	}
	var gz bytes.Buffer
	zw := stdgzip.NewWriter(&gz)
	zw.Write(lines.Bytes())
	zw.Close()
	budget := NewBudget(1<<30, nil)
	b.SetBytes(int64(lines.Len()))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/write?db=db", bytes.NewReader(gz.Bytes()))
		l := budget.lease(context.Background())
		buf, err := readBodyAs(req, true, 25e6, &l)
		if err != nil || len(buf.b) != lines.Len() {
			b.Fatal(err)
		}
		freeBuffer(buf)
		l.close()
	}
}
