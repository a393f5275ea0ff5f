package ingest

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/influxgate/influxgate/internal/lineproto"
)

// How InfluxDB 1.8 stores a Prometheus sample (prometheus/converters.go,
// WriteRequestToPoints): the metric name is the measurement, every label
// (the metric name's own "__name__" included) is a tag, the value is the
// float field "value", the timestamp is the sample's milliseconds times
// 1e6 in nanoseconds. A series without "__name__" goes to a measurement of
// this name.
const (
	promDefaultMeasurement = "prom_metric_not_specified"
	promNameLabel          = "__name__"
	promField              = "value"
)

// promBatch is a remote-write request converted to line protocol.
type promBatch struct {
	body  []byte
	lines int
	// nan and inf count the samples InfluxDB 1.8 drops without a word:
	// NaN (Prometheus's staleness markers are NaN) and ±Inf.
	nan, inf int
	// unrelayable counts the samples of series whose key line protocol
	// cannot carry (see promKey); unrelayableSeries the series.
	unrelayable, unrelayableSeries int
}

// promLabel is a label once a series' labels are sorted and deduplicated.
type promLabel struct{ name, value string }

// promConverter turns remote-write series into line protocol, one line per
// sample, with the series key InfluxDB 1.8 builds for them byte for byte
// (models.NewPoint: measurement and tags escaped, tags sorted by name,
// empty values left out) so that a backend stores exactly what its own
// /api/v1/prom/write would.
type promConverter struct {
	labels []promLabel
	key    []byte
	probe  []byte
}

// promLineBound returns an upper bound of the line protocol req converts
// to, to reserve before converting.
func promLineBound(req *prompb.WriteRequest) int {
	// " value=" + the longest float + " " + the longest int64 + "\n".
	const perLine = 1 + len(promField) + 1 + 24 + 1 + 20 + 1
	n := 0
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		if len(ts.Samples) == 0 {
			continue
		}
		key := 2 * len(promDefaultMeasurement)
		for _, l := range ts.Labels {
			// Escaping at most doubles a name or value.
			key += 2 + 2*len(l.Name) + 2*len(l.Value)
			if l.Name == promNameLabel {
				key += 2 * len(l.Value)
			}
		}
		n += len(ts.Samples) * (key + perLine)
	}
	return n
}

// convert appends the lines of req to dst. It fails, converting nothing,
// where InfluxDB 1.8 refuses the whole request: a sample whose time in
// nanoseconds is out of InfluxDB's range, or a series key over
// MaxKeyLength, checked for each sample in order as InfluxDB does. NaN
// and ±Inf samples are dropped and counted, as InfluxDB 1.8 drops them
// (1.6 refused ±Inf). Series whose key line protocol cannot carry are
// dropped and counted in unrelayable: the caller answers a partial write.
func (c *promConverter) convert(dst []byte, req *prompb.WriteRequest) (promBatch, error) {
	b := promBatch{body: dst}
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		if len(ts.Samples) == 0 {
			continue
		}
		relayable := c.buildKey(ts.Labels)
		checked := false
		for _, s := range ts.Samples {
			switch {
			case math.IsNaN(s.Value):
				b.nan++
				continue
			case math.IsInf(s.Value, 0):
				b.inf++
				continue
			}
			// InfluxDB computes time.Unix(0, ms*1e6): the product wraps
			// for times past 2262 and is stored as wrapped; only the two
			// reserved lowest and the highest nanosecond are refused.
			ns := s.Timestamp * int64(time.Millisecond)
			if ns < lineproto.MinNanoTime || ns > lineproto.MaxNanoTime {
				return promBatch{body: dst}, lineproto.ErrTimeOutOfRange
			}
			if !checked {
				// models.NewPoint's check, on the first point of the series.
				if sz := len(c.key) + 4 + len(promField); sz > lineproto.MaxKeyLength {
					return promBatch{body: dst}, fmt.Errorf("max key length exceeded: %v > %v", sz, lineproto.MaxKeyLength)
				}
				checked = true
			}
			if !relayable {
				b.unrelayable++
				continue
			}
			b.body = append(b.body, c.key...)
			b.body = append(b.body, " "+promField+"="...)
			b.body = strconv.AppendFloat(b.body, s.Value, 'g', -1, 64)
			b.body = append(b.body, ' ')
			b.body = strconv.AppendInt(b.body, ns, 10)
			b.body = append(b.body, '\n')
			b.lines++
		}
		if !relayable && checked {
			b.unrelayableSeries++
		}
	}
	return b, nil
}

// buildKey sets c.key to the series key InfluxDB 1.8 gives a series with
// these labels, and reports whether a line protocol line starting with it
// parses back to the same key. Labels are sorted by name; of labels with
// the same name the last one counts, as in InfluxDB's map of tags.
func (c *promConverter) buildKey(labels []prompb.Label) bool {
	c.labels = c.labels[:0]
	for _, l := range labels {
		c.labels = append(c.labels, promLabel{l.Name, l.Value})
	}
	slices.SortStableFunc(c.labels, func(a, b promLabel) int { return cmp.Compare(a.name, b.name) })
	measurement := promDefaultMeasurement
	w := 0
	for i, l := range c.labels {
		if i+1 < len(c.labels) && c.labels[i+1].name == l.name {
			continue // a later label of the same name wins
		}
		if l.name == promNameLabel {
			measurement = l.value
		}
		c.labels[w] = l
		w++
	}
	c.labels = c.labels[:w]

	// models.MakeKey: the measurement is unescaped, then escaped; tags
	// with an empty value are left out of the key.
	c.key = appendEscaped(c.key[:0], unescapeMeasurement(measurement), measurementSpecials)
	for _, l := range c.labels {
		if l.value == "" {
			continue
		}
		c.key = append(c.key, ',')
		c.key = appendEscaped(c.key, l.name, tagSpecials)
		c.key = append(c.key, '=')
		c.key = appendEscaped(c.key, l.value, tagSpecials)
	}
	return c.relayable()
}

// relayable reports whether a line made of c.key and a field parses, in
// InfluxDB's parser, to a point with exactly that key. Keys InfluxDB
// stores but line protocol cannot carry: a newline anywhere (it ends the
// line), a measurement, tag key or value that ends in a backslash (which
// escapes the separator after it), an empty measurement or tag key, a
// measurement starting with '#' (a comment) or with whitespace the parser
// skips. Prometheus's own names never do; label values may.
func (c *promConverter) relayable() bool {
	if len(c.key) == 0 || bytes.IndexByte(c.key, '\n') >= 0 {
		return false
	}
	switch c.key[0] {
	case '\t', 0, '#': // skipped by the parser, or a comment
		return false
	}
	c.probe = append(append(c.probe[:0], c.key...), " "+promField+"=0 0"...)
	if !lineproto.IsPoint(c.probe) || lineproto.ValidateLine(c.probe) != nil {
		return false
	}
	m, tags := lineproto.Key(c.probe)
	end := len(m)
	if tags != nil {
		end += 1 + len(tags)
	}
	return end == len(c.key)
}

var (
	measurementSpecials = []byte{',', ' '}
	tagSpecials         = []byte{',', ' ', '='}
)

// appendEscaped appends s with a backslash before each special byte, as
// InfluxDB's EscapeMeasurement and escapeTag do.
func appendEscaped(dst []byte, s string, specials []byte) []byte {
	for i := 0; i < len(s); i++ {
		if bytes.IndexByte(specials, s[i]) >= 0 {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return dst
}

// unescapeMeasurement undoes `\,` and `\ ` in a name once, as InfluxDB's
// MakeKey does before it escapes the name (each replacement only when
// the name holds the unescaped byte at all, as InfluxDB checks).
func unescapeMeasurement(s string) string {
	if !bytes.Contains([]byte(s), []byte{'\\'}) {
		return s
	}
	b := []byte(s)
	for _, c := range measurementSpecials {
		if bytes.IndexByte(b, c) >= 0 {
			b = bytes.ReplaceAll(b, []byte{'\\', c}, []byte{c})
		}
	}
	return string(b)
}
