package query

import (
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The answer of a merged query, written as influxd writes its own: JSON
// (compact, or indented by four spaces with pretty=true), CSV for
// Accept: application/csv or text/csv, chunked with chunked=true, and
// gzip-compressed when the client accepts it.

// format is what the client asked the answer to look like.
type format struct {
	contentType string // application/json, application/csv, text/csv or application/x-msgpack
	pretty      bool
	chunked     bool
	chunkSize   int
	gzip        bool
	// epoch is the client's epoch parameter; without one, the times of
	// SELECT results are written as RFC 3339 strings in JSON.
	epoch string
}

// defaultChunkSize is influxd's chunk size when chunk_size is missing.
const defaultChunkSize = 10000

func (f format) csv() bool { return strings.HasSuffix(f.contentType, "/csv") }

// backendVersion adjusts the format to what the backends (whose
// X-Influxdb-Version is v) would have answered: influxd 1.6 and older
// name every CSV answer text/csv, later versions echo application/csv.
func (f *format) backendVersion(v string) {
	if !f.csv() {
		return
	}
	var major, minor int
	if n, _ := fmt.Sscanf(v, "%d.%d", &major, &minor); n == 2 && (major < 1 || (major == 1 && minor < 7)) {
		f.contentType = "text/csv"
	}
}

// negotiate reads the format from the request as influxd does: the first
// Accept entry, by descending q, that names a type it writes.
func negotiate(r *http.Request) format {
	f := format{contentType: "application/json", pretty: r.URL.Query().Get("pretty") == "true",
		chunked: r.Form.Get("chunked") == "true", chunkSize: defaultChunkSize,
		gzip: strings.Contains(r.Header.Get("Accept-Encoding"), "gzip"), epoch: strings.TrimSpace(r.Form.Get("epoch"))}
	if f.chunked {
		if n, err := strconv.ParseInt(r.Form.Get("chunk_size"), 10, 64); err == nil && n > 0 {
			f.chunkSize = int(n)
		}
	}
	type accept struct {
		typ, sub string
		q        float64
	}
	var accepts []accept
	for _, h := range r.Header.Values("Accept") {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			a := accept{q: 1}
			switch t := strings.Split(mt, "/"); {
			case len(t) == 1 && t[0] == "*":
				a.typ, a.sub = "*", "*"
			case len(t) == 2:
				a.typ, a.sub = t[0], t[1]
			default:
				continue
			}
			if q, ok := params["q"]; ok {
				a.q, _ = strconv.ParseFloat(q, 64)
			}
			accepts = append(accepts, a)
		}
	}
	sort.SliceStable(accepts, func(i, j int) bool { return accepts[i].q > accepts[j].q })
	for _, a := range accepts {
		for _, ct := range []string{"application/json", "application/csv", "text/csv", "application/x-msgpack"} {
			typ, sub, _ := strings.Cut(ct, "/")
			if (a.typ == "*" || a.typ == typ) && (a.sub == "*" || a.sub == sub) {
				f.contentType = ct
				return f
			}
		}
	}
	return f
}

// chunkStyle is how influxd cuts a statement's result into chunks.
type chunkStyle uint8

const (
	// chunkWhole: one chunk (SHOW MEASUREMENTS, SHOW DATABASES, ...).
	chunkWhole chunkStyle = iota
	// chunkRows: as influxd's emitter: at most chunk_size values a chunk,
	// one series a chunk, partial flags on what continues (SELECT, SHOW
	// SERIES, SHOW FIELD KEYS, cardinalities).
	chunkRows
	// chunkSeries: one chunk a series, no partial flags (SHOW TAG KEYS,
	// SHOW TAG VALUES).
	chunkSeries
)

// answer is the merged result of one statement and how to write it.
type answer struct {
	res   *result
	style chunkStyle
	// times: column 0 holds epoch times (SELECT results), written as
	// RFC 3339 in loc when the client gave no epoch.
	times bool
	loc   *time.Location
}

// chunks cuts a result as influxd would send it with chunk_size n.
func (a *answer) chunks(n int) []*result {
	res := a.res
	if res.Err != "" || len(res.Series) == 0 || a.style == chunkWhole {
		return []*result{res}
	}
	var out []*result
	emit := func(s *series, partial bool) {
		c := &result{StatementID: res.StatementID, Series: []*series{s}, Partial: partial}
		if len(out) == 0 {
			c.Messages = res.Messages
		}
		out = append(out, c)
	}
	for i, s := range res.Series {
		lastSeries := i == len(res.Series)-1
		if a.style == chunkSeries {
			emit(s, false)
			continue
		}
		vals := s.Values
		for len(vals) > n {
			c := *s
			c.Values, c.Partial = vals[:n], true
			emit(&c, true)
			vals = vals[n:]
		}
		c := *s
		c.Values = vals
		emit(&c, !lastSeries)
	}
	return out
}

// formatTimes writes the epoch times of column 0 as influxd writes
// time.Time values in JSON.
func (a *answer) formatTimes() {
	if !a.times {
		return
	}
	loc := a.loc
	if loc == nil {
		loc = time.UTC
	}
	for _, s := range a.res.Series {
		for _, row := range s.Values {
			if len(row) == 0 {
				continue
			}
			if n, ok := toNum(row[0]); ok && n.isInt {
				row[0] = time.Unix(0, n.i).In(loc).Format(time.RFC3339Nano)
			}
		}
	}
}

// writeAnswers writes the results of a merged query with status 200.
func writeAnswers(w http.ResponseWriter, f format, answers []*answer) {
	if !f.csv() && f.epoch == "" {
		for _, a := range answers {
			a.formatTimes()
		}
	}
	w.Header().Set("Content-Type", f.contentType)
	var out io.Writer = w
	if f.gzip {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		defer zw.Close()
		out = zw
	}
	w.WriteHeader(http.StatusOK)
	flush := func() {
		if zw, ok := out.(*gzip.Writer); ok {
			_ = zw.Flush()
		}
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
	}
	var enc func(resp *response) error
	if f.csv() {
		cw := &csvWriter{statementID: -1}
		enc = func(resp *response) error { return cw.write(out, resp) }
	} else {
		enc = func(resp *response) error {
			var b []byte
			var err error
			if f.pretty {
				b, err = json.MarshalIndent(resp, "", "    ")
			} else {
				b, err = json.Marshal(resp)
			}
			if err != nil {
				return err
			}
			_, err = out.Write(append(b, '\n'))
			return err
		}
	}
	if !f.chunked {
		resp := &response{}
		for _, a := range answers {
			resp.Results = append(resp.Results, a.res)
		}
		_ = enc(resp)
		return
	}
	for _, a := range answers {
		for _, c := range a.chunks(f.chunkSize) {
			if enc(&response{Results: []*result{c}}) != nil {
				return
			}
			flush()
		}
	}
}

// csvWriter is influxd's CSV layout: a header of name, tags and the
// columns, written again when the columns change; a blank line between
// statements; tags as a series key without the measurement; results
// without series left out.
type csvWriter struct {
	statementID int
	columns     []string
}

func (f *csvWriter) write(w io.Writer, resp *response) error {
	cw := csv.NewWriter(w)
	if resp.Err != "" {
		_ = cw.Write([]string{"error"})
		_ = cw.Write([]string{resp.Err})
		cw.Flush()
		return cw.Error()
	}
	for _, res := range resp.Results {
		if res.StatementID != f.statementID {
			if len(res.Series) == 0 {
				continue
			}
			if f.statementID >= 0 {
				cw.Flush()
				if _, err := io.WriteString(w, "\n"); err != nil {
					return err
				}
			}
			f.statementID = res.StatementID
			f.columns = append([]string{"name", "tags"}, res.Series[0].Columns...)
			if err := cw.Write(f.columns); err != nil {
				return err
			}
		}
		for i, s := range res.Series {
			if i > 0 && !equalStrings(res.Series[i-1].Columns, s.Columns) {
				cw.Flush()
				if _, err := io.WriteString(w, "\n"); err != nil {
					return err
				}
				f.columns = append([]string{"name", "tags"}, s.Columns...)
				if err := cw.Write(f.columns); err != nil {
					return err
				}
			}
			f.columns[0] = s.Name
			f.columns[1] = tagsKey(s.Tags)
			for _, row := range s.Values {
				for j, v := range row {
					if 2+j < len(f.columns) {
						f.columns[2+j] = csvValue(v)
					}
				}
				_ = cw.Write(f.columns)
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// csvValue writes a value as influxd's CSV does: floats without an
// exponent, null as nothing.
func csvValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		s := string(v)
		if !strings.ContainsAny(s, ".eE") {
			return s
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
		return s
	}
	return ""
}

// tagsKey is a tag set as influxd prints it in CSV: key=value pairs in key
// order, escaped as in line protocol, those with an empty value left out.
func tagsKey(tags map[string]string) string {
	if len(tags) == 0 {
		return ""
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := tags[k]
		if v == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tagEscaper.Replace(k))
		b.WriteByte('=')
		b.WriteString(tagEscaper.Replace(v))
	}
	return b.String()
}

var tagEscaper = strings.NewReplacer(",", `\,`, " ", `\ `, "=", `\=`)
