// Package ingest turns InfluxDB write requests (POST /write and
// POST /api/v2/write) into log records: it checks the parameters the way
// InfluxDB does, reads and decompresses the body within the size limit,
// stamps lines that carry no timestamp (once, at receipt, so every replica
// stores the same time), and hands the record to the relay, whose answer it
// writes back in InfluxDB's shape.
package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/influxgate/influxgate/internal/influxerr"
	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/wal"
)

// Writer is the part of a relay the handlers need.
type Writer interface {
	Write(ctx context.Context, rec *record.Record, c relay.Consistency) relay.Answer
}

// Options configure the write handlers of one listener.
type Options struct {
	// MaxBodySize is the largest body in bytes after decompression; 0
	// means no limit of its own. Either way a body must fit in one log
	// record (wal.MaxRecordSize, header included).
	MaxBodySize            int64
	DefaultRetentionPolicy string
	Consistency            relay.Consistency
	Logger                 *slog.Logger
	Metrics                *Metrics // optional
	Now                    func() time.Time
}

// Handler serves /write and /api/v2/write.
type Handler struct {
	w     Writer
	opts  Options
	limit int64 // bytes of body, after decompression
	// maxRecord is the largest record the log takes (wal.MaxRecordSize;
	// tests lower it).
	maxRecord int
}

// New returns the write handlers for one listener.
func New(w Writer, opts Options) *Handler {
	limit := int64(wal.MaxRecordSize)
	if opts.MaxBodySize > 0 && opts.MaxBodySize < limit {
		limit = opts.MaxBodySize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Handler{w: w, opts: opts, limit: limit, maxRecord: wal.MaxRecordSize}
}

// ServeV1 handles POST /write?db=&rp=&precision=&consistency=&u=&p=.
func (h *Handler) ServeV1(w http.ResponseWriter, r *http.Request) {
	if !allowPost(w, r) {
		return
	}
	q := parseParams(r.URL.RawQuery)
	rec := record.Record{Kind: record.KindWrite, DB: q.get(paramDB), RP: q.get(paramRP),
		Auth: record.Auth{Header: r.Header.Get("Authorization"), Username: q.get(paramU), Password: q.get(paramP)}}
	if rec.DB == "" {
		h.fail(w, "v1", http.StatusBadRequest, "database is required")
		return
	}
	prec, err := lineproto.ParsePrecisionV1(q.get(paramPrecision))
	if err != nil {
		h.fail(w, "v1", http.StatusBadRequest, err.Error())
		return
	}
	h.serve(w, r, "v1", &rec, prec, q.get(paramConsistency))
}

// ServeV2 handles POST /api/v2/write?org=&bucket=&precision=. A bucket
// "db/rp" names a database and retention policy, "db" the database's
// default policy, as InfluxDB 1.8 maps them; InfluxDB's texts answer a
// bucket without a database.
func (h *Handler) ServeV2(w http.ResponseWriter, r *http.Request) {
	if !allowPost(w, r) {
		return
	}
	q := parseParams(r.URL.RawQuery)
	bucket := q.get(paramBucket)
	db, rp, slash := strings.Cut(bucket, "/")
	switch {
	case bucket == "":
		h.fail(w, "v2", http.StatusNotFound, `bucket name "" is missing a slash; not in "database/retention-policy" format`)
		return
	case slash && db == "":
		h.fail(w, "v2", http.StatusNotFound, fmt.Sprintf(`bucket name %q is in db/rp form but has an empty database`, bucket))
		return
	}
	org := q.get(paramOrg)
	if org == "" {
		org = q.get(paramOrgID)
	}
	rec := record.Record{Kind: record.KindWrite, DB: db, RP: rp, Org: org,
		Auth: record.Auth{Header: r.Header.Get("Authorization"), Username: q.get(paramU), Password: q.get(paramP)}}
	prec, err := lineproto.ParsePrecisionV2(q.get(paramPrecision))
	if err != nil {
		h.fail(w, "v2", http.StatusBadRequest, err.Error())
		return
	}
	h.serve(w, r, "v2", &rec, prec, "")
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, endpoint string, rec *record.Record, prec lineproto.Precision, consistency string) {
	level, err := relay.ParseConsistency(consistency, h.opts.Consistency)
	if err != nil {
		h.fail(w, endpoint, http.StatusBadRequest, err.Error())
		return
	}
	if rec.RP == "" {
		rec.RP = h.opts.DefaultRetentionPolicy
	}
	buf := getBuffer()
	defer putBuffer(buf)
	if status, msg := h.readBody(r, buf); status != 0 {
		if status == http.StatusRequestEntityTooLarge {
			w.Header().Set("Connection", "close")
		}
		h.fail(w, endpoint, status, msg)
		return
	}
	now := h.opts.Now()
	stamped := getBuffer()
	defer putBuffer(stamped)
	stamped.Grow(buf.Len() + buf.Len()/4)
	body, st := lineproto.Stamp(stamped.Bytes()[:0], buf.Bytes(), prec.Timestamp(now))
	if st.Unstampable > 0 {
		// InfluxDB takes such a line, but any timestamp appended to it
		// would change its stored value; forwarding it unstamped would let
		// each backend stamp its own time. Refuse it whole, before the log.
		h.fail(w, endpoint, http.StatusBadRequest, fmt.Sprintf(
			"unable to stamp %d line(s) without a timestamp: a string field followed by a trailing backslash; send these lines with a timestamp", st.Unstampable))
		return
	}
	if st.Lines == 0 {
		// Nothing but blank lines or comments: InfluxDB answers 204.
		h.opts.Metrics.observe(endpoint, http.StatusNoContent, 0, now)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	rec.Received = now.UnixNano()
	rec.Precision = uint8(prec)
	if st.OpenEnd {
		rec.Flags |= record.FlagOpenEnd
	}
	rec.Lines = uint32(st.Lines)
	rec.Body = body
	if rec.EncodedSize() > h.maxRecord {
		// The log cannot hold it; handed over, it would count as a
		// failure of the log, not of this request.
		w.Header().Set("Connection", "close")
		h.fail(w, endpoint, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	ans := h.w.Write(r.Context(), rec, level)
	h.opts.Metrics.observe(endpoint, ans.Status, st.Lines, now)
	if ans.Status == http.StatusNoContent {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	influxerr.WriteBody(w, ans.Status, ans.Body)
}

// readBody reads the (possibly gzipped) body into buf within the limit and
// returns a status and message on failure, InfluxDB's way.
func (h *Handler) readBody(r *http.Request, buf *bytes.Buffer) (int, string) {
	limit := h.limit
	gzipped := r.Header.Get("Content-Encoding") == "gzip"
	if r.ContentLength > limit {
		return http.StatusRequestEntityTooLarge, "Request Entity Too Large"
	}
	if !gzipped && r.ContentLength > 0 {
		// MinRead more: ReadFrom wants that much room for the read that
		// finds EOF, and would otherwise copy the whole body into a buffer
		// twice the size when the body fills its allocation exactly.
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	var src io.Reader = r.Body
	if gzipped {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return http.StatusBadRequest, err.Error()
		}
		defer gz.Close()
		src = gz
	}
	n, err := buf.ReadFrom(io.LimitReader(src, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, "Request Entity Too Large"
		}
		return http.StatusBadRequest, err.Error()
	}
	if n > limit {
		return http.StatusRequestEntityTooLarge, "Request Entity Too Large"
	}
	return 0, ""
}

func (h *Handler) fail(w http.ResponseWriter, endpoint string, status int, msg string) {
	h.opts.Metrics.observe(endpoint, status, 0, time.Time{})
	influxerr.Write(w, status, msg)
}

// allowPost answers 405 for anything but POST (and OPTIONS), like InfluxDB.
func allowPost(w http.ResponseWriter, r *http.Request) bool {
	switch r.Method {
	case http.MethodPost:
		return true
	case http.MethodOptions:
		w.WriteHeader(http.StatusOK)
		return false
	}
	w.Header().Set("Allow", "OPTIONS, POST")
	http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	return false
}

// Body buffers are pooled; very large ones are let go so that one 25 MB
// request does not pin 25 MB for the life of the process.
const maxPooledBuffer = 4 << 20

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer {
	b := buffers.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		buffers.Put(b)
	}
}
