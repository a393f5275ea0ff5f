package query

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
)

// The answers of shards, decoded to be merged. Values are decoded with
// json.Decoder.UseNumber, so a value passed through is re-encoded exactly
// as the backend wrote it: json.Number, string, bool or nil; values
// influxgate computes are float64 or int64, which encoding/json writes as
// influxd itself does.

// series is one series of a result, as InfluxDB writes it (models.Row).
type series struct {
	Name    string            `json:"name,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
	Columns []string          `json:"columns,omitempty"`
	Values  [][]any           `json:"values,omitempty"`
	Partial bool              `json:"partial,omitempty"`
}

// message is a warning or note of a result.
type message struct {
	Level string `json:"level"`
	Text  string `json:"text"`
}

// result is the answer to one statement, in InfluxDB's field order.
type result struct {
	StatementID int       `json:"statement_id"`
	Series      []*series `json:"series,omitempty"`
	Messages    []message `json:"messages,omitempty"`
	Partial     bool      `json:"partial,omitempty"`
	Err         string    `json:"error,omitempty"`
}

// response is a whole /query answer, or one chunk of a chunked one.
type response struct {
	Results []*result `json:"results,omitempty"`
	Err     string    `json:"error,omitempty"`
	// version is the backend's X-Influxdb-Version.
	version string
}

// errAnswerTooLarge stops a merge whose shard answers exceed the budget.
var errAnswerTooLarge = errors.New("answer too large to merge")

// budget bounds the bytes of shard answers one request may hold in
// memory for a merge.
type budget struct {
	limit int64
	left  atomic.Int64
}

func newBudget(limit int64) *budget {
	b := &budget{limit: limit}
	b.left.Store(limit)
	return b
}

// budgetReader counts what it reads against a budget.
type budgetReader struct {
	r io.Reader
	b *budget
}

func (br budgetReader) Read(p []byte) (int, error) {
	n, err := br.r.Read(p)
	if br.b.left.Add(-int64(n)) < 0 {
		return n, errAnswerTooLarge
	}
	return n, err
}

// decodeAnswer reads a /query answer, chunked or not, and joins the
// chunks of each statement as influxd joins them for a client that did
// not ask for chunks: a series continued in the next chunk gets its
// values appended, messages are gathered, and a statement's error
// replaces what came before it.
func decodeAnswer(r io.Reader) (*response, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	out := &response{}
	for {
		var chunk response
		if err := dec.Decode(&chunk); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if chunk.Err != "" {
			out.Err = chunk.Err
		}
		for _, res := range chunk.Results {
			out.join(res)
		}
	}
}

func (resp *response) join(res *result) {
	n := len(resp.Results)
	if n == 0 || resp.Results[n-1].StatementID != res.StatementID {
		res.Partial = false
		for _, s := range res.Series {
			s.Partial = false
		}
		resp.Results = append(resp.Results, res)
		return
	}
	cur := resp.Results[n-1]
	if res.Err != "" {
		resp.Results[n-1] = res
		return
	}
	rest := res.Series
	if len(cur.Series) > 0 {
		last := cur.Series[len(cur.Series)-1]
		for len(rest) > 0 && sameSeries(last, rest[0]) {
			last.Values = append(last.Values, rest[0].Values...)
			rest = rest[1:]
		}
	}
	for _, s := range rest {
		s.Partial = false
		cur.Series = append(cur.Series, s)
	}
	cur.Messages = append(cur.Messages, res.Messages...)
}

func sameSeries(a, b *series) bool {
	if a.Name != b.Name || len(a.Tags) != len(b.Tags) {
		return false
	}
	for k, v := range a.Tags {
		if w, ok := b.Tags[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// num is a number of a result, as exact as it was written.
type num struct {
	isInt bool
	i     int64
	f     float64
}

// toNum reads a result value as a number; ok is false for anything else
// (null, strings, booleans).
func toNum(v any) (n num, ok bool) {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return num{isInt: true, i: i, f: float64(i)}, true
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return num{}, false
		}
		return num{f: f}, true
	case int64:
		return num{isInt: true, i: v, f: float64(v)}, true
	case float64:
		return num{f: v}, true
	}
	return num{}, false
}

// value is n as a result value: int64 or float64.
func (n num) value() any {
	if n.isInt {
		return n.i
	}
	return n.f
}

// less compares two numbers by value.
func (n num) less(m num) bool {
	if n.isInt && m.isInt {
		return n.i < m.i
	}
	return n.f < m.f
}

// add sums two numbers: integers stay integers (as influxd sums integer
// fields), anything with a float is a float.
func (n num) add(m num) num {
	if n.isInt && m.isInt {
		return num{isInt: true, i: n.i + m.i, f: float64(n.i + m.i)}
	}
	return num{f: n.f + m.f}
}

// timeOf reads the time in column 0 of a row as nanoseconds (the shards
// are asked for epoch times).
func timeOf(row []any) (int64, error) {
	if len(row) == 0 {
		return 0, fmt.Errorf("a row without a time")
	}
	n, ok := toNum(row[0])
	if !ok || !n.isInt {
		return 0, fmt.Errorf("time %v is not an epoch time", row[0])
	}
	return n.i, nil
}
