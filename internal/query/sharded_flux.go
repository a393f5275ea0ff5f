package query

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Flux on a sharded listener. influxgate does not merge Flux answers: it
// routes a Flux query to the one shard that holds all the data it reads,
// and refuses any other. A query is pinned to one shard when it reads
// with exactly one from(bucket: "db/rp") (or "db"), and the pipeline that
// starts at that from() filters r._measurement (or r["_measurement"]) to
// literal names, and with shard-key = "tag:K" also r.K to literal values,
// in a filter whose condition requires them (a top-level "and", or an
// "or" of equalities), such that every key it can read has the same
// shard.

// ServeFlux handles /api/v2/query: routed to the one shard its filters
// pin, refused with a 400 that says what pins a shard otherwise.
func (h *ShardedHandler) ServeFlux(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	body, status, msg := readFluxBody(r)
	if status != 0 {
		fail(w, h.opts.Metrics, "flux", status, msg, start)
		return
	}
	script, err := fluxScript(r.Header.Get("Content-Type"), body)
	if err != nil {
		fail(w, h.opts.Metrics, "flux", http.StatusBadRequest, err.Error(), start)
		return
	}
	p := newPlanner(h.opts.Set, "")
	pos, err := p.fluxShard(script)
	if err != nil {
		fail(w, h.opts.Metrics, "flux", http.StatusBadRequest, err.Error(), start)
		return
	}
	h.shards[pos].forward(w, r, "flux", body, start)
}

// fluxScript reads the Flux text of a request as influxd does: the body
// itself for application/vnd.flux, the "query" of a JSON body otherwise.
func fluxScript(contentType string, body []byte) (string, error) {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && mt == "application/vnd.flux" {
		return string(body), nil
	}
	var req struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return "", fmt.Errorf("cannot read the Flux query from the request body (JSON with a \"query\", or Content-Type: application/vnd.flux): %v", err)
	}
	return req.Query, nil
}

// fluxDenied are Flux functions that read data other than through the
// one from() influxgate routes by.
var fluxDenied = map[string]bool{"buckets": true, "databases": true, "measurements": true,
	"measurementTagValues": true, "measurementTagKeys": true, "measurementFieldKeys": true,
	"tagValues": true, "tagKeys": true, "fieldKeys": true, "cardinality": true}

// fluxShard returns the position of the shard a Flux query reads, or a
// refusal that says what pins one.
func (p *planner) fluxShard(script string) (int, error) {
	how := `influxgate routes a Flux query on a sharded listener only when it reads one shard: one from(bucket: "db/rp") whose pipeline (from() |> range() |> filter() ...) filters r._measurement == "name"`
	if p.tag != "" {
		how += fmt.Sprintf(` and r.%s == "value"`, p.tag)
	}
	how += " to literal values; InfluxQL on /query is merged across shards"
	toks, err := fluxTokens(script)
	if err != nil {
		return 0, fmt.Errorf("%s (this query: %v)", how, err)
	}
	from := -1
	for i, t := range toks {
		if t.kind != tokIdent || i+1 >= len(toks) || !isOpen(toks[i+1]) {
			continue
		}
		qualified := i > 0 && toks[i-1].text == "."
		if fluxDenied[t.text] || (t.text == "from" && qualified) {
			return 0, fmt.Errorf("%s; this query calls %s(), which reads other data", how, t.text)
		}
		if t.text == "from" {
			if from >= 0 {
				return 0, fmt.Errorf("%s; this query calls from() more than once", how)
			}
			from = i
		}
	}
	if from < 0 {
		return 0, fmt.Errorf("%s; this query has no from()", how)
	}
	args, end := fluxCallArgs(toks, from+1)
	bucket, ok := fluxStringArg(args, "bucket")
	if !ok {
		return 0, fmt.Errorf("%s; this query's from() has no literal bucket", how)
	}
	db, _, _ := strings.Cut(bucket, "/")
	var measurements, values []string
	mPinned, vPinned := false, false
	// The pipeline that starts at from().
	for i := end; i+2 < len(toks) && toks[i].text == "|>"; {
		j := i + 1
		for j+3 < len(toks) && toks[j+1].text == "." { // pkg.fn
			j += 2
		}
		if toks[j].kind != tokIdent || !isOpen(toks[j+1]) {
			break
		}
		args, next := fluxCallArgs(toks, j+1)
		if toks[j].text == "filter" && (j == i+1) {
			if fn, ok := fluxFilterBody(args); ok {
				if ms, ok := fn.pins("_measurement"); ok {
					measurements = intersect(measurements, ms, mPinned)
					mPinned = true
				}
				if p.tag != "" {
					if vs, ok := fn.pins(p.tag); ok {
						values = intersect(values, vs, vPinned)
						vPinned = true
					}
				}
			}
		}
		i = next
	}
	if !mPinned {
		return 0, fmt.Errorf("%s; this query's pipeline does not filter r._measurement to literal names", how)
	}
	if p.tag != "" && !vPinned {
		return 0, fmt.Errorf("%s; this query's pipeline does not filter r.%s to literal values", how, p.tag)
	}
	if p.tag == "" {
		values = []string{""}
	}
	var b uint64
	for _, m := range measurements {
		for _, v := range values {
			b |= bit(p.owner(db, m, v))
		}
	}
	switch bits.OnesCount64(b) {
	case 0:
		return bits.TrailingZeros64(p.holders), nil // nothing can match: any shard answers
	case 1:
		return bits.TrailingZeros64(b), nil
	}
	return 0, fmt.Errorf("%s; the keys this query reads are on shards %s: query them one at a time", how, p.names(b))
}

func intersect(have, with []string, had bool) []string {
	if !had {
		return slices.Clone(with)
	}
	return slices.DeleteFunc(have, func(s string) bool { return !slices.Contains(with, s) })
}

// Flux tokens, enough to find calls, string literals and the conditions
// of filters.

type tokKind uint8

const (
	tokIdent tokKind = iota
	tokString
	tokOther
)

type fluxToken struct {
	kind tokKind
	text string // a string literal's value, unquoted
}

func fluxTokens(s string) ([]fluxToken, error) {
	var out []fluxToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '/' && i+1 < len(s) && s[i+1] == '/':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case isIdentStart(c):
			j := i + 1
			for j < len(s) && (isIdentStart(s[j]) || (s[j] >= '0' && s[j] <= '9')) {
				j++
			}
			out = append(out, fluxToken{tokIdent, s[i:j]})
			i = j
		case c == '"':
			var b strings.Builder
			j := i + 1
			literal := true
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
					switch s[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					default:
						b.WriteByte(s[j])
					}
					continue
				}
				if s[j] == '$' && j+1 < len(s) && s[j+1] == '{' {
					literal = false // interpolation: not a literal value
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string")
			}
			if literal {
				out = append(out, fluxToken{tokString, b.String()})
			} else {
				out = append(out, fluxToken{tokOther, "${}"})
			}
			i = j + 1
		case c == '/' && len(out) > 0 && (out[len(out)-1].text == "=~" || out[len(out)-1].text == "!~"):
			j := i + 1
			for ; j < len(s) && s[j] != '/'; j++ {
				if s[j] == '\\' {
					j++
				}
			}
			out = append(out, fluxToken{tokOther, "regex"})
			i = j + 1
		default:
			if i+1 < len(s) {
				switch two := s[i : i+2]; two {
				case "|>", "=>", "==", "!=", "=~", "!~", "<=", ">=", "<-":
					out = append(out, fluxToken{tokOther, two})
					i += 2
					continue
				}
			}
			out = append(out, fluxToken{tokOther, string(c)})
			i++
		}
	}
	return out, nil
}

func isOpen(t fluxToken) bool { return t.kind == tokOther && t.text == "(" }

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// fluxCallArgs returns the tokens between the parenthesis at open and its
// match, and the position after the match.
func fluxCallArgs(toks []fluxToken, open int) ([]fluxToken, int) {
	depth := 0
	for i := open; i < len(toks); i++ {
		switch toks[i].text {
		case "(", "[", "{":
			if toks[i].kind == tokOther {
				depth++
			}
		case ")", "]", "}":
			if toks[i].kind == tokOther {
				depth--
				if depth == 0 {
					return toks[open+1 : i], i + 1
				}
			}
		}
	}
	return nil, len(toks)
}

// splitTop splits tokens at top-level commas.
func splitTop(toks []fluxToken) [][]fluxToken {
	var out [][]fluxToken
	depth, start := 0, 0
	for i, t := range toks {
		if t.kind != tokOther {
			continue
		}
		switch t.text {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
		case ",":
			if depth == 0 {
				out = append(out, toks[start:i])
				start = i + 1
			}
		}
	}
	return append(out, toks[start:])
}

// fluxStringArg returns the literal string of a named argument.
func fluxStringArg(args []fluxToken, name string) (string, bool) {
	for _, a := range splitTop(args) {
		if len(a) == 3 && a[0].kind == tokIdent && a[0].text == name && a[1].text == ":" && a[2].kind == tokString {
			return a[2].text, true
		}
	}
	return "", false
}

// fluxCond is a filter condition: a conjunction, a disjunction, a
// comparison of a column of the row with a literal, or anything else.
type fluxCond struct {
	op     string // "and", "or", "==", "other"
	kids   []*fluxCond
	column string // for "=="
	value  string
}

// pins returns the values a condition requires column to have.
func (c *fluxCond) pins(column string) ([]string, bool) {
	switch c.op {
	case "==":
		if c.column == column {
			return []string{c.value}, true
		}
	case "and":
		var out []string
		found := false
		for _, k := range c.kids {
			if vs, ok := k.pins(column); ok {
				out = intersect(out, vs, found)
				found = true
			}
		}
		return out, found
	case "or":
		var out []string
		for _, k := range c.kids {
			vs, ok := k.pins(column)
			if !ok {
				return nil, false
			}
			out = append(out, vs...)
		}
		return out, true
	}
	return nil, false
}

// fluxFilterBody reads fn: (r) => condition from a filter's arguments.
func fluxFilterBody(args []fluxToken) (*fluxCond, bool) {
	for _, a := range splitTop(args) {
		if len(a) < 7 || a[0].text != "fn" || a[1].text != ":" || a[2].text != "(" || a[3].kind != tokIdent ||
			a[4].text != ")" || a[5].text != "=>" {
			continue
		}
		fp := &fluxParser{toks: a[6:], row: a[3].text}
		c := fp.or()
		if fp.i != len(fp.toks) {
			return nil, false
		}
		return c, true
	}
	return nil, false
}

type fluxParser struct {
	toks []fluxToken
	i    int
	row  string
}

func (p *fluxParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i].text
	}
	return ""
}

func (p *fluxParser) or() *fluxCond {
	c := &fluxCond{op: "or", kids: []*fluxCond{p.and()}}
	for p.peek() == "or" && p.toks[p.i].kind == tokIdent {
		p.i++
		c.kids = append(c.kids, p.and())
	}
	if len(c.kids) == 1 {
		return c.kids[0]
	}
	return c
}

func (p *fluxParser) and() *fluxCond {
	c := &fluxCond{op: "and", kids: []*fluxCond{p.unary()}}
	for p.peek() == "and" && p.toks[p.i].kind == tokIdent {
		p.i++
		c.kids = append(c.kids, p.unary())
	}
	if len(c.kids) == 1 {
		return c.kids[0]
	}
	return c
}

func (p *fluxParser) unary() *fluxCond {
	if p.peek() == "(" {
		p.i++
		c := p.or()
		if p.peek() == ")" {
			p.i++
			return c
		}
		return &fluxCond{op: "other"}
	}
	// operand [op operand]: anything but the comparison of a column with
	// a string literal is "other".
	start := p.i
	col, okCol := p.column()
	if okCol && p.peek() == "==" {
		p.i++
		if p.i < len(p.toks) && p.toks[p.i].kind == tokString {
			v := p.toks[p.i].text
			p.i++
			if p.atEnd() {
				return &fluxCond{op: "==", column: col, value: v}
			}
		}
	}
	p.i = start
	if p.i < len(p.toks) && p.toks[p.i].kind == tokString {
		v := p.toks[p.i].text
		p.i++
		if p.peek() == "==" {
			p.i++
			if col, ok := p.column(); ok && p.atEnd() {
				return &fluxCond{op: "==", column: col, value: v}
			}
		}
	}
	p.i = start
	p.skipOperand()
	return &fluxCond{op: "other"}
}

// atEnd reports the end of a comparison: "and", "or", ")" or the end.
func (p *fluxParser) atEnd() bool {
	switch p.peek() {
	case "", ")":
		return true
	case "and", "or":
		return p.toks[p.i].kind == tokIdent
	}
	return false
}

// column reads r.name or r["name"].
func (p *fluxParser) column() (string, bool) {
	t := p.toks
	i := p.i
	if i+2 < len(t) && t[i].kind == tokIdent && t[i].text == p.row && t[i+1].text == "." && t[i+2].kind == tokIdent {
		p.i += 3
		return t[i+2].text, true
	}
	if i+3 < len(t) && t[i].kind == tokIdent && t[i].text == p.row && t[i+1].text == "[" && t[i+2].kind == tokString && t[i+3].text == "]" {
		p.i += 4
		return t[i+2].text, true
	}
	return "", false
}

// skipOperand skips to the next "and", "or" or unmatched ")".
func (p *fluxParser) skipOperand() {
	depth := 0
	for ; p.i < len(p.toks); p.i++ {
		t := p.toks[p.i]
		if t.kind == tokIdent && (t.text == "and" || t.text == "or") && depth == 0 {
			return
		}
		if t.kind != tokOther {
			continue
		}
		switch t.text {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			if depth == 0 {
				return
			}
			depth--
		}
	}
}
