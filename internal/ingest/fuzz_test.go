package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
)

// acceptingWriter is a fake relay that accepts every write and keeps it.
type acceptingWriter struct {
	recs []record.Record
}

func (w *acceptingWriter) Write(_ context.Context, rec *record.Record, _ relay.Consistency) relay.Answer {
	r := *rec
	r.Body = bytes.Clone(rec.Body)
	w.recs = append(w.recs, r)
	return relay.Answer{Status: http.StatusNoContent}
}

// FuzzServe sends arbitrary parameters and bodies (plain or gzipped) to the
// write handlers: every answer is 204 or an InfluxDB JSON error with a
// status InfluxDB uses, a refused request never reaches the relay, and an
// accepted one reaches it once, stamped, with its lines counted.
func FuzzServe(f *testing.F) {
	f.Add(false, "db=x&precision=s&consistency=any", []byte("m v=1\nm v=2 5\n"), false)
	f.Add(false, "db=x&rp=r&u=a&p=b", []byte("# c\n\n"), true)
	f.Add(true, "bucket=x/y&org=o&precision=ms", []byte("m v=1"), false)
	f.Add(false, "precision=us", []byte("m v=1"), false)
	f.Add(true, "bucket=&precision=h", []byte{0x1f, 0x8b, 0}, true)
	now := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, v2 bool, query string, body []byte, gz bool) {
		w := &acceptingWriter{}
		h := New(w, Options{MaxBodySize: 1 << 16, Now: func() time.Time { return now }})
		send := body
		if gz {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			_, _ = zw.Write(body)
			_ = zw.Close()
			send = b.Bytes()
		}
		req := httptest.NewRequest(http.MethodPost, "/write", bytes.NewReader(send))
		req.URL.RawQuery = query
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		rr := httptest.NewRecorder()
		if v2 {
			h.ServeV2(rr, req)
		} else {
			h.ServeV1(rr, req)
		}
		switch rr.Code {
		case http.StatusNoContent:
		case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge:
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(rr.Body.Bytes(), &e); err != nil || e.Error == "" || rr.Header().Get("X-Influxdb-Error") == "" {
				t.Fatalf("%d with body %q", rr.Code, rr.Body.Bytes())
			}
			if len(w.recs) != 0 {
				t.Fatalf("refused with %d but the write reached the relay", rr.Code)
			}
			return
		default:
			t.Fatalf("status %d: %q", rr.Code, rr.Body.Bytes())
		}
		if len(w.recs) > 1 {
			t.Fatalf("one request, %d records", len(w.recs))
		}
		if len(w.recs) == 0 {
			if lineproto.Count(body).Lines != 0 {
				t.Fatal("204 with points, but nothing reached the relay")
			}
			return
		}
		rec := w.recs[0]
		q, _ := url.ParseQuery(query)
		db := q.Get("db")
		if v2 {
			db, _, _ = strings.Cut(q.Get("bucket"), "/")
			if db != rec.DB {
				t.Fatalf("bucket %q became db %q", q.Get("bucket"), rec.DB)
			}
		} else if rec.DB != db {
			t.Fatalf("db %q became %q", db, rec.DB)
		}
		if int(rec.Lines) != lineproto.Count(rec.Body).Lines || rec.Lines == 0 || rec.Received != now.UnixNano() {
			t.Fatalf("record %+v for body %q", rec, rec.Body)
		}
		if _, st := lineproto.Stamp(nil, rec.Body, 1); st.Stamped != 0 {
			t.Fatalf("record body has %d unstamped lines: %q", st.Stamped, rec.Body)
		}
	})
}
