package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
)

// parsingWriter is a fake relay that answers as influxd would to the
// logged body: it checks each line with lineproto.ValidateLinePrecision
// (which words its errors as InfluxDB 1.x does) and joins the refusals
// the way InfluxDB's write handler does. It keeps what reached it.
type parsingWriter struct {
	mu   sync.Mutex
	recs []record.Record
}

func (w *parsingWriter) Write(_ context.Context, rec *record.Record, _ relay.Consistency) relay.Answer {
	w.mu.Lock()
	r := *rec
	r.Body = bytes.Clone(rec.Body)
	w.recs = append(w.recs, r)
	w.mu.Unlock()
	var failed []string
	good := 0
	lineproto.Lines(rec.Body, func(line []byte) bool {
		if !lineproto.IsPoint(line) {
			return true
		}
		if err := lineproto.ValidateLinePrecision(line, lineproto.Precision(rec.Precision)); err != nil {
			failed = append(failed, err.Error())
		} else {
			good++
		}
		return true
	})
	switch {
	case len(failed) == 0:
		return relay.Answer{Status: http.StatusNoContent}
	case good == 0:
		return relay.ErrorAnswer(http.StatusBadRequest, "%s", strings.Join(failed, "\n"))
	}
	return relay.ErrorAnswer(http.StatusBadRequest, "partial write: %s dropped=0", strings.Join(failed, "\n"))
}

func (w *parsingWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.recs)
}

// post sends a request to a handler and returns its answer.
func post(h http.HandlerFunc, target string, body []byte, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rr := httptest.NewRecorder()
	h(rr, req)
	return rr
}

// errorText returns the "error" of an InfluxDB JSON error body and checks
// that X-Influxdb-Error carries the same message.
func errorText(t *testing.T, rr *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(rr.Body.Bytes(), &e); err != nil {
		t.Fatalf("%d %q: not an InfluxDB error body: %v", rr.Code, rr.Body.Bytes(), err)
	}
	if h := rr.Header().Get("X-Influxdb-Error"); h != strings.ReplaceAll(strings.ReplaceAll(e.Error, "\n", " "), "\r", " ") {
		t.Errorf("X-Influxdb-Error %q, body %q", h, e.Error)
	}
	return e.Error
}

// Issue 12, item 6: a refusal quotes the lines as the client sent them,
// not with the timestamp influxgate stamped them with.
func TestRefusalsQuoteTheClientsLines(t *testing.T) {
	now := time.Unix(0, 1796523694382832507)
	cases := []struct {
		name, params, body, want string
	}{
		{"one bad line", "precision=ns", "cpu v=1,v2=",
			"unable to parse 'cpu v=1,v2=': missing field value"},
		{"several bad lines, some good", "", "cpu v=1,v2=\ncpu v=2\n  cpu v=3,v4=\nbad\n",
			"partial write: unable to parse 'cpu v=1,v2=': missing field value\nunable to parse 'cpu v=3,v4=': missing field value\nunable to parse 'bad': missing fields dropped=0"},
		{"every line stamped", "", "a v=1\nb v=\n\tc v=1,w=\n",
			"partial write: unable to parse 'b v=': missing field value\nunable to parse 'c v=1,w=': missing field value dropped=0"},
		{"precision s", "precision=s", "cpu v=1,v2=\nbad2",
			"unable to parse 'cpu v=1,v2=': missing field value\nunable to parse 'bad2': missing fields"},
		{"a client line with the stamp's timestamp keeps it", "precision=s", "cpu v=1,v2= 1796523694\ncpu v=1,v2=\n",
			"unable to parse 'cpu v=1,v2= 1796523694': missing field value\nunable to parse 'cpu v=1,v2=': missing field value"},
		{"the same, the other way round", "precision=s", "cpu v=1,v2=\ncpu v=1,v2= 1796523694\n",
			"unable to parse 'cpu v=1,v2=': missing field value\nunable to parse 'cpu v=1,v2= 1796523694': missing field value"},
		{"CRLF", "", "cpu v=1\r\ncpu v=2\r\n",
			"unable to parse 'cpu v=1\r': invalid number\nunable to parse 'cpu v=2\r': invalid number"},
		{"a line that quotes a refusal", "precision=h", "m s=\"unable to parse 'm v=': x\",v=\nm v=\n",
			"unable to parse 'm s=\"unable to parse 'm v=': x\",v=': missing field value\nunable to parse 'm v=': missing field value"},
		{"nothing stamped", "", "cpu v= 5\n", "unable to parse 'cpu v= 5': missing field value"},
	}
	for _, c := range cases {
		w := &parsingWriter{}
		h := New(w, Options{Now: func() time.Time { return now }})
		rr := post(h.ServeV1, "/write?db=db&"+c.params, []byte(c.body))
		if rr.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %q", c.name, rr.Code, rr.Body.Bytes())
			continue
		}
		if got := errorText(t, rr); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestUnstampMessageLeavesWhatItCannotPlace(t *testing.T) {
	body := []byte("a v=\nb v=\n")
	lines := func(yield func([]byte, bool) bool) { lineproto.Quoted(body, yield) }
	cases := []struct{ name, msg, want string }{
		{"cut short", "unable to parse 'a v= 5': missing field value\nunable to parse 'b v",
			"unable to parse 'a v=': missing field value\nunable to parse 'b v"},
		{"no quote", "partial write: field type conflict: input field \"v\" on measurement \"a\" is type float, already exists as type integer dropped=1",
			"partial write: field type conflict: input field \"v\" on measurement \"a\" is type float, already exists as type integer dropped=1"},
		{"a quote of other lines stops the rewriting", "unable to parse 'z v= 5': x\nunable to parse 'b v= 5': x",
			"unable to parse 'z v= 5': x\nunable to parse 'b v= 5': x"},
		{"another timestamp", "unable to parse 'a v= 6': x", "unable to parse 'a v= 6': x"},
	}
	for _, c := range cases {
		if got := unstampMessage(c.msg, "5", lines); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

// Issue 12, item 8: max-body-size = 0 means no limit of influxgate's own,
// as documented (it used to mean 25,000,000 bytes).
func TestMaxBodySizeZeroIsNoLimit(t *testing.T) {
	w := &acceptingWriter{}
	h := New(w, Options{MaxBodySize: 0})
	body := bytes.Repeat([]byte("cpu v=1 1\n"), 2_500_001) // 25,000,010 bytes
	if rr := post(h.ServeV1, "/write?db=db", body); rr.Code != http.StatusNoContent || len(w.recs) != 1 {
		t.Fatalf("%d %q, %d records", rr.Code, rr.Body.Bytes(), len(w.recs))
	}
}

// A body that the log could not hold as one record gets 413 and never
// reaches the log, whatever max-body-size says.
func TestBodyBeyondALogRecordIs413(t *testing.T) {
	for _, maxBody := range []int64{0, 1 << 20} {
		w := &acceptingWriter{}
		h := New(w, Options{MaxBodySize: maxBody})
		h.maxRecord = 1000
		rr := post(h.ServeV1, "/write?db=db", bytes.Repeat([]byte("cpu v=1 1\n"), 100))
		if rr.Code != http.StatusRequestEntityTooLarge || rr.Header().Get("Connection") != "close" || len(w.recs) != 0 {
			t.Errorf("max-body-size %d: %d %q, %d records", maxBody, rr.Code, rr.Body.Bytes(), len(w.recs))
		}
		if rr := post(h.ServeV1, "/write?db=db", []byte("cpu v=1\n")); rr.Code != http.StatusNoContent {
			t.Errorf("max-body-size %d: a small write after it: %d %q", maxBody, rr.Code, rr.Body.Bytes())
		}
	}
}

// A write that needs more than the whole budget can never fit: it gets
// 413 at once instead of waiting.
func TestWriteLargerThanTheBudgetIs413AtOnce(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	b := NewBudget(4<<20, m)
	w := &acceptingWriter{}
	h := New(w, Options{MaxBodySize: 25_000_000, Budget: b, Metrics: m})
	cases := []struct {
		name string
		body []byte
		hdr  []string
	}{
		{"plain", bytes.Repeat([]byte("cpu v=1 1\n"), 500_000), nil},
		{"gzip", gzipBomb(t, 5_000_000), []string{"Content-Encoding", "gzip"}},
	}
	for _, c := range cases {
		start := time.Now()
		rr := post(h.ServeV1, "/write?db=db", c.body, c.hdr...)
		if rr.Code != http.StatusRequestEntityTooLarge || errorText(t, rr) != "Request Entity Too Large" || len(w.recs) != 0 {
			t.Errorf("%s: %d %q, %d records", c.name, rr.Code, rr.Body.Bytes(), len(w.recs))
		}
		if d := time.Since(start); d > b.wait/2 {
			t.Errorf("%s: answered after %v: it waited", c.name, d)
		}
		if b.Held() != 0 {
			t.Errorf("%s: %d bytes still held", c.name, b.Held())
		}
	}
	if got := metricValue(m.refusals.WithLabelValues("too_large")); got != 2 {
		t.Errorf("too_large refusals = %v, want 2", got)
	}
}

// Issue 12, item 8: past 10,000 query parameters Go's url.ParseQuery
// returns nothing, and "db" went missing ("database is required").
// InfluxDB 1.6.7 and 1.8.10 read such a request and write its points.
func TestManyQueryParameters(t *testing.T) {
	w := &acceptingWriter{}
	h := New(w, Options{})
	many := strings.Repeat("x=1&", 10_001)
	if rr := post(h.ServeV1, "/write?"+many+"db=db&rp=r&precision=s", []byte("cpu v=1\n")); rr.Code != http.StatusNoContent {
		t.Fatalf("/write: %d %q", rr.Code, rr.Body.Bytes())
	}
	if rr := post(h.ServeV2, "/api/v2/write?"+many+"bucket=db2/r2", []byte("cpu v=1\n")); rr.Code != http.StatusNoContent {
		t.Fatalf("/api/v2/write: %d %q", rr.Code, rr.Body.Bytes())
	}
	if len(w.recs) != 2 || w.recs[0].DB != "db" || w.recs[0].RP != "r" || w.recs[0].Precision != uint8(lineproto.Second) ||
		w.recs[1].DB != "db2" || w.recs[1].RP != "r2" {
		t.Errorf("records %+v", w.recs)
	}
}

// Issue 12, item 8: a bucket with an empty database before the slash is
// refused as InfluxDB 1.8.10 refuses it, before the log.
func TestV2BucketWithoutDatabase(t *testing.T) {
	w := &acceptingWriter{}
	h := New(w, Options{})
	for _, bucket := range []string{"/rp", "/"} {
		rr := post(h.ServeV2, "/api/v2/write?bucket="+bucket, []byte("cpu v=1\n"))
		want := fmt.Sprintf("bucket name %q is in db/rp form but has an empty database", bucket)
		if rr.Code != http.StatusNotFound || errorText(t, rr) != want {
			t.Errorf("bucket %q: %d %q", bucket, rr.Code, rr.Body.Bytes())
		}
	}
	if rr := post(h.ServeV2, "/api/v2/write?bucket=db/", []byte("cpu v=1\n")); rr.Code != http.StatusNoContent {
		t.Errorf("bucket db/: %d %q", rr.Code, rr.Body.Bytes())
	}
	if len(w.recs) != 1 || w.recs[0].DB != "db" || w.recs[0].RP != "" {
		t.Errorf("records %+v", w.recs)
	}
}
