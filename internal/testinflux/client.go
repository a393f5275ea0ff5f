package testinflux

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Response is an answer from /query.
type Response struct {
	Status  int    // HTTP status
	Body    []byte // the raw body
	Results []Result
	Error   string // the top-level "error" (e.g. a parse error), if any
}

// Result is one statement's result in InfluxDB's JSON.
type Result struct {
	StatementID int       `json:"statement_id"`
	Series      []Series  `json:"series,omitempty"`
	Messages    []Message `json:"messages,omitempty"`
	Partial     bool      `json:"partial,omitempty"`
	Error       string    `json:"error,omitempty"`
}

// Series is one series of a Result. Values holds what encoding/json
// decodes with UseNumber: json.Number for numbers (so integers and
// nanosecond times stay exact), string, bool and nil.
type Series struct {
	Name    string            `json:"name,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
	Columns []string          `json:"columns,omitempty"`
	Values  [][]any           `json:"values,omitempty"`
	Partial bool              `json:"partial,omitempty"`
}

// Message is an informational message of a Result (e.g. a deprecation).
type Message struct {
	Level string `json:"level"`
	Text  string `json:"text"`
}

// Err returns the response's first error: the top-level one, else the first
// statement's; nil when every statement succeeded.
func (r Response) Err() error {
	if r.Error != "" {
		return errors.New(r.Error)
	}
	for _, res := range r.Results {
		if res.Error != "" {
			return fmt.Errorf("statement %d: %s", res.StatementID, res.Error)
		}
	}
	return nil
}

// Query sends q (one or more statements) to POST /query with db (may be "")
// and epoch=ns. It fails the test when the request fails or the status is
// not 200; statement errors are returned in Results for the caller to check.
func (s *Server) Query(t testing.TB, db, q string) Response {
	t.Helper()
	r, err := s.query(db, q)
	if err != nil {
		t.Fatalf("testinflux: query %q on influxd %s at %s: %v", q, s.opts.Version, s.Addr(), err)
	}
	return r
}

// Exec runs q without a database (CREATE DATABASE, CREATE USER, ...) and
// fails the test on any error, including a statement error.
func (s *Server) Exec(t testing.TB, q string) {
	t.Helper()
	if err := s.Query(t, "", q).Err(); err != nil {
		t.Fatalf("testinflux: %q on influxd %s at %s: %v", q, s.opts.Version, s.Addr(), err)
	}
}

// CreateDatabase creates db (a no-op if it exists).
func (s *Server) CreateDatabase(t testing.TB, db string) {
	t.Helper()
	s.Exec(t, "CREATE DATABASE "+QuoteIdent(db))
}

// Write posts body (line protocol) to /write?db=db&precision=precision
// (precision "" is left out) and fails the test unless influxd answers 204.
func (s *Server) Write(t testing.TB, db, precision, body string) {
	t.Helper()
	v := url.Values{"db": {db}}
	if precision != "" {
		v.Set("precision", precision)
	}
	req, err := http.NewRequest(http.MethodPost, s.WriteURL()+"?"+v.Encode(), strings.NewReader(body))
	if err != nil {
		t.Fatalf("testinflux: %v", err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	status, answer, err := s.do(req)
	if err != nil {
		t.Fatalf("testinflux: write to influxd %s at %s: %v", s.opts.Version, s.Addr(), err)
	}
	if status != http.StatusNoContent {
		t.Fatalf("testinflux: write to influxd %s at %s: HTTP %d: %s", s.opts.Version, s.Addr(), status, clip(answer))
	}
}

// Count returns the number of points of measurement in db's default
// retention policy; 0 if the database or measurement does not exist.
// InfluxQL counts values per field, not points, so Count takes in each
// series the count of its most-populated field: exact whenever some field is
// present in every point of the series (the usual case in tests), a lower
// bound for sparse series, where len(Points) is the exact count.
func (s *Server) Count(t testing.TB, db, measurement string) int {
	t.Helper()
	n, err := s.count(db, measurement)
	if err != nil {
		t.Fatalf("testinflux: count %s in %s on influxd %s at %s: %v", measurement, db, s.opts.Version, s.Addr(), err)
	}
	return n
}

// WaitCount polls Count every 10 ms until it equals n, and fails the test
// with the last count if that does not happen within the given time. It is
// for points that arrive asynchronously (UDP, relayed writes).
func (s *Server) WaitCount(t testing.TB, db, measurement string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := s.count(db, measurement)
		if err != nil {
			t.Fatalf("testinflux: count %s in %s on influxd %s at %s: %v", measurement, db, s.opts.Version, s.Addr(), err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testinflux: %s in %s on influxd %s at %s: have %d points after %v, want %d",
				measurement, db, s.opts.Version, s.Addr(), got, within, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) count(db, measurement string) (int, error) {
	r, err := s.query(db, "SELECT COUNT(*) FROM "+QuoteIdent(measurement)+" GROUP BY *")
	if err != nil {
		return 0, err
	}
	if len(r.Results) == 1 && isDatabaseNotFound(r.Results[0].Error) {
		return 0, nil
	}
	if err := r.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, res := range r.Results {
		for _, se := range res.Series {
			for _, row := range se.Values {
				most := int64(0)
				for i, v := range row {
					if i >= len(se.Columns) || se.Columns[i] == "time" {
						continue
					}
					if num, ok := v.(json.Number); ok {
						if c, err := num.Int64(); err == nil && c > most {
							most = c
						}
					}
				}
				n += int(most)
			}
		}
	}
	return n, nil
}

func isDatabaseNotFound(msg string) bool {
	return strings.HasPrefix(msg, "database not found")
}

// query posts q to /query and decodes the answer; an error means the
// request failed or the status was not 200.
func (s *Server) query(db, q string) (Response, error) {
	form := url.Values{"q": {q}, "epoch": {"ns"}}
	if db != "" {
		form.Set("db", db)
	}
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body, err := s.do(req)
	if err != nil {
		return Response{}, err
	}
	r := Response{Status: status, Body: body}
	if status != http.StatusOK {
		return r, fmt.Errorf("HTTP %d: %s", status, clip(body))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc struct {
		Results []Result `json:"results"`
		Error   string   `json:"error"`
	}
	if err := dec.Decode(&doc); err != nil {
		return r, fmt.Errorf("decode answer: %w: %s", err, clip(body))
	}
	r.Results, r.Error = doc.Results, doc.Error
	return r, nil
}

// do sends req with the server's credentials and reads the whole answer.
func (s *Server) do(req *http.Request) (int, []byte, error) {
	if user, password := s.Credentials(); user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if !s.Running() {
			err = fmt.Errorf("%w (the server is not running)", err)
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

// QuoteIdent quotes an InfluxQL identifier (database, measurement, user).
func QuoteIdent(name string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(name) + `"`
}

// clip shortens an answer body for a failure message.
func clip(b []byte) string {
	const max = 2000
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
