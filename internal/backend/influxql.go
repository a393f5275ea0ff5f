package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/record"
)

// The InfluxQL requests of influxgate's operator tools (verify, resync,
// and whatever else reads or changes one server on the operator's behalf).
// They reach the server directly, never through influxgate, with the
// output's own credentials as SetCredentials puts them on writes: its token,
// its user as Basic auth (as "Token user:password" on an /api/v2/write
// location), or none. They never carry a client's credentials. Failures
// come back as *Error, whose Class says whether trying again may help; no
// method retries by itself.

// Series is one series of a statement's result. Values hold what
// encoding/json decodes with UseNumber: json.Number (integers and the
// nanosecond times of epoch=ns stay exact), string, bool and nil.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// QueryResult is the answer to one statement.
type QueryResult struct {
	StatementID int      `json:"statement_id"`
	Series      []Series `json:"series"`
}

// statementAnswer is one statement's result as InfluxDB writes it, with the
// error a statement that failed reports in a 200 answer.
type statementAnswer struct {
	QueryResult
	Error string `json:"error"`
}

// queryAnswer is a /query answer, or one chunk of a chunked one.
type queryAnswer struct {
	Results []statementAnswer `json:"results"`
	Error   string            `json:"error"`
}

// Error is a failed request of Query, QueryChunked, ExecStatement or
// WriteLines.
type Error struct {
	Backend string // the client's String(): name and address
	Op      string // what was asked, e.g. `query SHOW DATABASES`
	Status  int    // HTTP status; 0 when no answer arrived
	// Class is what the failure means, as for writes (classify.go):
	// Transient when trying again may help (no answer, an answer cut
	// short, 5xx, 429); Rejected or Mismatch when the server refused the
	// request or a statement in it.
	Class Class
	// Reason is a short stable label: Result's reasons, and for a
	// statement that failed in a 200 answer "db_not_found",
	// "rp_not_found" or "statement_error"; "unreadable_answer" for an
	// answer influxd could not write (a float sum of +Inf) or that is not
	// its JSON.
	Reason string
	// Err is InfluxDB's message, or the transport error without the
	// request's URL (Backend names the server; the URL's query could
	// hold credentials).
	Err error
}

// Error names the backend, the request and what went wrong.
func (e *Error) Error() string {
	if e.Status != 0 && e.Status/100 != 2 {
		return fmt.Sprintf("backend %s: %s: HTTP %d: %v", e.Backend, e.Op, e.Status, e.Err)
	}
	return fmt.Sprintf("backend %s: %s: %v", e.Backend, e.Op, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether trying the request again may help.
func (e *Error) Transient() bool { return e.Class == Transient }

// Query runs one InfluxQL statement q in database db ("" for none, as for
// SHOW DATABASES) and returns its result, with times as integer
// nanoseconds (epoch=ns). The whole answer is read into memory; use
// QueryChunked for answers of any size. Only ctx bounds the request, since
// a query may rightly take minutes. A statement that failed is an *Error
// with the server's message: Reason "db_not_found" or "rp_not_found" when
// the database or retention policy does not exist (often no failure for
// the caller), "statement_error" otherwise.
func (c *Client) Query(ctx context.Context, db, q string) (QueryResult, error) {
	op := queryOp(q)
	a, err := c.queryAnswer(ctx, op, db, q)
	if err != nil {
		return QueryResult{}, err
	}
	if len(a.Results) != 1 {
		return QueryResult{}, &Error{Backend: c.String(), Op: op, Status: http.StatusOK, Class: Rejected,
			Reason: "unreadable_answer", Err: fmt.Errorf("want one result, have %d", len(a.Results))}
	}
	if msg := a.Results[0].Error; msg != "" {
		return QueryResult{}, c.statementError(op, msg)
	}
	return a.Results[0].QueryResult, nil
}

// ExecStatement runs InfluxQL that changes the server (CREATE, ALTER, DROP,
// SELECT ... INTO; several statements separated by semicolons are fine) in
// database db ("" for none) and fails with an *Error, as Query does, when
// the request or any statement failed. Only ctx bounds the request.
func (c *Client) ExecStatement(ctx context.Context, db, q string) error {
	op := queryOp(q)
	a, err := c.queryAnswer(ctx, op, db, q)
	if err != nil {
		return err
	}
	for _, r := range a.Results {
		if r.Error != "" {
			return c.statementError(op, r.Error)
		}
	}
	return nil
}

// queryAnswer sends q and decodes the whole answer.
func (c *Client) queryAnswer(ctx context.Context, op, db, q string) (queryAnswer, error) {
	resp, err := c.postQuery(ctx, op, queryForm(db, q))
	if err != nil {
		return queryAnswer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return queryAnswer{}, c.transportError(op, fmt.Errorf("read answer: %w", err))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var a queryAnswer
	if err := dec.Decode(&a); err != nil {
		// A complete answer that is not JSON: influxd 1.6 answers 200
		// with its encoder's error when a value (a float sum that
		// overflowed to +Inf) cannot be written as JSON. Asking again
		// gives the same.
		return queryAnswer{}, &Error{Backend: c.String(), Op: op, Status: resp.StatusCode, Class: Rejected,
			Reason: "unreadable_answer", Err: fmt.Errorf("unreadable answer: %v: %s", err, clip(string(data)))}
	}
	if a.Error != "" {
		return queryAnswer{}, c.answerError(op, a.Error)
	}
	return a, nil
}

// QueryChunked runs one InfluxQL statement q in database db with a chunked
// answer (chunkSize rows per chunk; 0 leaves influxd's default) and hands
// each series chunk to fn as it arrives, so an answer of any size streams
// through bounded memory. A series longer than a chunk arrives in several
// calls. Times are integer nanoseconds (epoch=ns).
//
// idle bounds each wait for the server — for the answer's headers and for
// every further chunk — but not the time fn takes, which may wait on
// anything (a rate limiter, a write elsewhere); 0 leaves ctx alone to bound
// the request. A stall is a transient *Error with Reason "timeout". An
// error fn returns ends the request and is returned as it is; any other
// failure is an *Error, and a stream cut short is transient, leaving the
// caller to decide whether to ask again from the start.
func (c *Client) QueryChunked(ctx context.Context, db, q string, chunkSize int, idle time.Duration,
	fn func(Series) error) error {
	op := queryOp(q)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled atomic.Bool
	watch := time.AfterFunc(time.Hour, func() { stalled.Store(true); cancel() })
	watch.Stop() // armed only around each wait for the server
	defer watch.Stop()
	arm := func() {
		if idle > 0 {
			watch.Reset(idle)
		}
	}
	// stall turns a failure caused by the watchdog into its own error.
	stall := func(err error) error {
		if err != nil && stalled.Load() {
			return &Error{Backend: c.String(), Op: op, Class: Transient, Reason: "timeout",
				Err: fmt.Errorf("no answer within %v", idle)}
		}
		return err
	}
	form := queryForm(db, q)
	form.Set("chunked", "true")
	if chunkSize > 0 {
		form.Set("chunk_size", strconv.Itoa(chunkSize))
	}
	arm()
	resp, err := c.postQuery(ctx, op, form)
	watch.Stop()
	if err != nil {
		return stall(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	for {
		var a queryAnswer
		arm()
		err := dec.Decode(&a)
		watch.Stop()
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return stall(&Error{Backend: c.String(), Op: op, Status: resp.StatusCode, Class: Transient,
				Reason: "connection", Err: fmt.Errorf("answer cut short: %w", bare(err))})
		}
		if a.Error != "" {
			return c.answerError(op, a.Error)
		}
		for _, r := range a.Results {
			if r.Error != "" {
				return c.statementError(op, r.Error)
			}
			for _, s := range r.Series {
				if err := fn(s); err != nil {
					return err
				}
			}
		}
	}
}

// queryForm is the form of a query for q in db, asking for times in
// integer nanoseconds.
func queryForm(db, q string) url.Values {
	form := url.Values{"q": {q}, "epoch": {"ns"}}
	if db != "" {
		form.Set("db", db)
	}
	return form
}

// postQuery sends form to POST /query with the output's own credentials
// and returns a 2xx answer for the caller to read and close; any other
// answer or none is an *Error.
func (c *Client) postQuery(ctx context.Context, op string, form url.Values) (*http.Response, error) {
	hdr, params := make(http.Header), url.Values{}
	c.SetCredentials(hdr, params, record.Auth{})
	req, err := c.newQueryRequest(ctx, form, hdr, params)
	if err != nil {
		return nil, c.transportError(op, err)
	}
	resp, err := c.oc.Do(req)
	if err != nil {
		return nil, c.transportError(op, err)
	}
	if resp.StatusCode/100 != 2 {
		body, cut, _ := readBounded(resp.Body)
		resp.Body.Close()
		if cut {
			body = closeCutError(body)
		}
		return nil, c.resultError(op, Classify(resp.StatusCode, body, resp.Header, nil))
	}
	return resp, nil
}

// WriteLines writes line protocol with nanosecond timestamps into db and
// rp (through the location's API, 1.x or 2.x, with the output's own
// credentials), bounded by the output's timeout as the relay's writes are.
// A write the server did not accept is an *Error whose Status and Class
// say why (400 with Class Rejected: bad data, a field type conflict,
// points beyond the retention policy).
func (c *Client) WriteLines(ctx context.Context, db, rp string, body []byte) error {
	res := c.Write(ctx, &Batch{DB: db, RP: rp, Precision: lineproto.Nanosecond, Bodies: [][]byte{body}})
	if res.Class == Accepted {
		return nil
	}
	return c.resultError(fmt.Sprintf("write to %s.%s", db, rp), res)
}

// resultError is the *Error of a classified answer that was no success.
func (c *Client) resultError(op string, r Result) *Error {
	e := &Error{Backend: c.String(), Op: op, Status: r.Status, Class: r.Class, Reason: r.Reason, Err: bare(r.Err)}
	if r.Err == nil {
		msg := r.Message()
		if msg == "" {
			msg = "(empty answer)"
		}
		e.Err = errors.New(msg)
	}
	return e
}

// transportError is the *Error of a request that got no (whole) answer.
func (c *Client) transportError(op string, err error) *Error {
	return c.resultError(op, Classify(0, nil, nil, err))
}

// answerError is the *Error of an error InfluxDB put in a 200 answer
// instead of the results.
func (c *Client) answerError(op, msg string) *Error {
	if strings.HasPrefix(msg, "json: ") {
		// influxd 1.8 could not write its answer (a float sum of +Inf):
		// the failure influxd 1.6 tells with a body that is not JSON.
		return &Error{Backend: c.String(), Op: op, Status: http.StatusOK, Class: Rejected,
			Reason: "unreadable_answer", Err: fmt.Errorf("unreadable answer: %s", msg)}
	}
	return c.statementError(op, msg)
}

// statementError is the *Error of a statement InfluxDB reported as failed.
func (c *Client) statementError(op, msg string) *Error {
	e := &Error{Backend: c.String(), Op: op, Status: http.StatusOK, Class: Rejected, Reason: "statement_error",
		Err: errors.New(msg)}
	switch {
	case strings.HasPrefix(msg, "database not found"):
		e.Class, e.Reason = Mismatch, "db_not_found"
	case strings.HasPrefix(msg, "retention policy not found"):
		e.Class, e.Reason = Mismatch, "rp_not_found"
	}
	return e
}

// bare drops the URL net/http puts in its errors: the message names the
// backend already, and the URL's query may hold credentials.
func bare(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// queryOp names a statement for messages: shortened, and cut after
// PASSWORD so that CREATE USER or SET PASSWORD never shows a secret.
func queryOp(q string) string {
	for i := 0; i+len("password") <= len(q); i++ {
		if strings.EqualFold(q[i:i+len("password")], "password") {
			q = q[:i+len("password")] + " [redacted]"
			break
		}
	}
	return "query " + clip(q)
}

// clip shortens a text for messages.
func clip(s string) string {
	const limit = 160
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}
