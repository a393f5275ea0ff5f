package ingest

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/influxgate/influxgate/internal/influxerr"
	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
)

// ServePromWrite handles POST /api/v1/prom/write?db=&rp=&consistency=&u=&p=,
// Prometheus's remote write (a snappy block of a protobuf WriteRequest), as
// InfluxDB 1.x serves it. The samples become line protocol with the series
// keys InfluxDB itself builds for them (see promConverter), in one write
// record at nanosecond precision with every timestamp from the samples, so
// that the log, replay, consistency, sharding and the memory budget treat
// it as any other write. The body limit (max-body-size) applies to the
// compressed body, as in InfluxDB; the decoded request and its line
// protocol are reserved from the write memory budget before they are
// allocated.
func (h *Handler) ServePromWrite(w http.ResponseWriter, r *http.Request) {
	const endpoint = "prom"
	if r.Method != http.MethodPost {
		// InfluxDB routes only POST here (no OPTIONS, unlike /write).
		w.Header().Set("Allow", "POST")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	q := parseParams(r.URL.RawQuery)
	rec := record.Record{Kind: record.KindWrite, DB: q.get(paramDB), RP: q.get(paramRP),
		Auth: record.Auth{Header: r.Header.Get("Authorization"), Username: q.get(paramU), Password: q.get(paramP)}}
	if rec.DB == "" {
		h.fail(w, endpoint, http.StatusBadRequest, "database is required")
		return
	}
	if rec.RP == "" {
		rec.RP = h.opts.DefaultRetentionPolicy
	}
	l := h.opts.Budget.lease(r.Context())
	defer l.close()
	batch, buf, err := h.convertProm(r, &l)
	if buf != nil {
		defer freeBuffer(buf)
	}
	if err != nil {
		h.failRead(w, endpoint, err)
		return
	}
	// InfluxDB reads the consistency level after the body.
	level, err := relay.ParseConsistency(q.get(paramConsistency), h.opts.Consistency)
	if err != nil {
		h.fail(w, endpoint, http.StatusBadRequest, err.Error())
		return
	}
	h.opts.Metrics.promDropped(batch)
	now := h.opts.Now()
	status := http.StatusNoContent
	var body []byte
	if batch.lines > 0 {
		rec.Received = now.UnixNano()
		rec.Precision = uint8(lineproto.Nanosecond)
		rec.Lines = uint32(batch.lines)
		rec.Body = batch.body
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
		ans := h.w.Write(r.Context(), &rec, level)
		status, body = ans.Status, ans.Body
	}
	if status == http.StatusNoContent && batch.unrelayable > 0 {
		// The rest is written (or there was no rest): say what was not,
		// in the shape of InfluxDB's partial writes, which clients do not
		// retry.
		status, body = http.StatusBadRequest, influxerr.Body(fmt.Sprintf(
			"partial write: %d sample(s) of %d series not relayed: a metric name or label holds a newline or ends in a backslash, which line protocol cannot carry dropped=%d",
			batch.unrelayable, batch.unrelayableSeries, batch.unrelayable))
	}
	h.opts.Metrics.observe(endpoint, status, batch.lines, now)
	if status == http.StatusNoContent {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	influxerr.WriteBody(w, status, body)
}

// errPromBody is a body InfluxDB refuses with 400 and this text: not a
// snappy block, not a WriteRequest, or a sample it cannot store.
type errPromBody struct{ msg string }

func (e *errPromBody) Error() string { return e.msg }

// convertProm reads, decodes and converts the body, reserving each step
// from l. buf holds the line protocol (batch.body) and is the caller's to
// free.
func (h *Handler) convertProm(r *http.Request, l *lease) (batch promBatch, buf *buffer, err error) {
	limit := int64(h.maxRecord)
	if h.opts.MaxBodySize > 0 && h.opts.MaxBodySize < limit {
		limit = h.opts.MaxBodySize
	}
	raw, err := readBodyAs(r, false, limit, l)
	if err != nil {
		return batch, nil, err
	}
	defer func() {
		if raw != nil {
			l.release(int64(cap(raw.b)))
			freeBuffer(raw)
		}
	}()
	n, err := snappy.DecodedLen(raw.b)
	if err != nil {
		return batch, nil, &errPromBody{err.Error()}
	}
	if err := l.reserve(int64(bufferCap(n))); err != nil {
		return batch, nil, err
	}
	dec := newBuffer(n)
	defer func() {
		l.release(int64(cap(dec.b)))
		freeBuffer(dec)
	}()
	plain, err := snappy.Decode(dec.b[:cap(dec.b)], raw.b)
	if err != nil {
		return batch, nil, &errPromBody{err.Error()}
	}
	l.release(int64(cap(raw.b)))
	freeBuffer(raw)
	raw = nil

	// The decoded request: its structs, and its strings (copies of at most
	// the wire bytes).
	decoded := measureWriteRequest(plain).decodedSize() + int64(len(plain))
	if err := l.reserve(decoded); err != nil {
		return batch, nil, err
	}
	defer l.release(decoded)
	var req prompb.WriteRequest
	if err := req.Unmarshal(plain); err != nil {
		return batch, nil, &errPromBody{influxProtoError(err)}
	}
	bound := promLineBound(&req)
	if bound > 0 {
		if err := l.reserve(int64(bufferCap(bound))); err != nil {
			return batch, nil, err
		}
		buf = newBuffer(bound)
	}
	var c promConverter
	var dst []byte
	if buf != nil {
		dst = buf.b[:0]
	}
	batch, err = c.convert(dst, &req)
	if err != nil {
		return batch, buf, &errPromBody{err.Error()}
	}
	return batch, buf, nil
}

// influxProtoError words a decoding error as InfluxDB's decoder does: the
// two decoders are generated by the same tool from messages that differ
// in two names (InfluxDB's LabelPair and TimestampMs are Prometheus's
// Label and Timestamp).
func influxProtoError(err error) string {
	return promProtoNames.Replace(err.Error())
}

var promProtoNames = strings.NewReplacer("proto: Label: ", "proto: LabelPair: ",
	"for field Timestamp", "for field TimestampMs")
