// Package ingest turns InfluxDB write requests (POST /write and
// POST /api/v2/write) into log records: it checks the parameters the way
// InfluxDB does, reads and decompresses the body within the size limit
// and the process's write memory budget (Budget), stamps lines that carry
// no timestamp (once, at receipt, so every replica stores the same time),
// and hands the record to the relay, whose answer it writes back in
// InfluxDB's shape, quoting refused lines as the client sent them.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
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
	// record (wal.MaxRecordSize, header included) and in the Budget.
	MaxBodySize            int64
	DefaultRetentionPolicy string
	Consistency            relay.Consistency
	// Budget bounds the memory of the writes in flight; one Budget is
	// shared by every listener of the process. nil gives the handler a
	// budget of its own, ten times the body limit: enough for any one
	// body within the limit (its stamped copy is up to 4.4 times as long
	// for the shortest lines, and the log record as long again).
	Budget  *Budget
	Logger  *slog.Logger
	Metrics *Metrics // optional
	Now     func() time.Time
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
	if opts.Budget == nil {
		opts.Budget = NewBudget(10*limit, nil)
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
	l := h.opts.Budget.lease(r.Context())
	defer l.close()
	buf, err := readBody(r, h.limit, &l)
	if err != nil {
		h.failRead(w, endpoint, err)
		return
	}
	// Read to its end: closing it tells net/http so, which otherwise
	// tries to discard the rest before answering (a reader and a copy
	// on every request).
	r.Body.Close()
	now := h.opts.Now()
	sb, err := stamp(buf, prec.Timestamp(now), &l)
	defer sb.free()
	if err != nil {
		h.failRead(w, endpoint, err)
		return
	}
	body, st := sb.body, sb.st
	if st.Unstampable > 0 {
		// InfluxDB takes such a line, but any timestamp added to it would
		// change its stored value or make it invalid; forwarding it
		// unstamped would let each backend stamp its own time. Refuse it
		// whole, before the log.
		h.fail(w, endpoint, http.StatusBadRequest, fmt.Sprintf(
			"unable to stamp %d line(s) without a timestamp: no timestamp can be added without changing them (a string field followed by a trailing backslash, or a newline inside the line); send these lines with a timestamp", st.Unstampable))
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
	// The relay encodes the record into a payload of its own, which the
	// log keeps: reserve it too, and never hand the log a record it cannot
	// hold (it would count as a failure of the log, not of the request).
	size := rec.EncodedSize()
	if size > h.maxRecord {
		err = errTooLarge
	} else {
		err = l.reserve(int64(size))
	}
	if err != nil {
		h.failRead(w, endpoint, err)
		return
	}
	ans := h.w.Write(r.Context(), rec, level)
	h.opts.Metrics.observe(endpoint, ans.Status, st.Lines, now)
	if ans.Status == http.StatusNoContent {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if st.Stamped > 0 {
		ans.Body = sb.unstampAnswer(ans.Body)
	}
	influxerr.WriteBody(w, ans.Status, ans.Body)
}

// failRead answers a request whose body could not be read, stamped or
// reserved: 413 over a limit (with Connection: close, as InfluxDB), 503
// (with influxerr's Retry-After) when the write memory budget is
// exhausted, 400 with the reader's text (a bad gzip stream) otherwise.
func (h *Handler) failRead(w http.ResponseWriter, endpoint string, err error) {
	switch {
	case errors.Is(err, errTooLarge), errors.Is(err, errOverBudget):
		if errors.Is(err, errOverBudget) {
			h.opts.Metrics.refused("too_large")
		}
		w.Header().Set("Connection", "close")
		h.fail(w, endpoint, http.StatusRequestEntityTooLarge, errTooLarge.Error())
	case errors.Is(err, errBudgetBusy):
		h.opts.Metrics.refused("busy")
		h.fail(w, endpoint, http.StatusServiceUnavailable, fmt.Sprintf(
			"write memory budget exhausted: the writes in flight hold all of write-memory-budget-mb (%d MB); retry later",
			h.opts.Budget.Limit()>>20))
	default:
		h.fail(w, endpoint, http.StatusBadRequest, err.Error())
	}
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
