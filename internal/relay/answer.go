package relay

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Answer is what the client of a write is told.
type Answer struct {
	Status int
	Body   []byte // InfluxDB-style JSON error body; empty for 204
}

// Message returns the error text of a failed answer.
func (a Answer) Message() string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(a.Body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return string(a.Body)
}

var answerNoContent = Answer{Status: http.StatusNoContent}

// ErrorAnswer builds an InfluxDB-style error answer.
func ErrorAnswer(status int, format string, args ...any) Answer {
	return Answer{Status: status, Body: ErrorBody(fmt.Sprintf(format, args...))}
}

// maxErrorHeader bounds X-Influxdb-Error. InfluxDB puts the whole message
// there, bad input lines included, and a 70 KB line makes a header that
// common clients refuse (Python's http.client stops at 64 KiB); the full
// message is in the JSON body either way.
const maxErrorHeader = 4 << 10

// ErrorHeader makes an error message fit for X-Influxdb-Error: control
// bytes (a backend may echo raw request bytes, NULs included) become '?'
// so no client's HTTP parser chokes on them, and it is cut at 4 KiB.
func ErrorHeader(msg string) string {
	if len(msg) > maxErrorHeader {
		msg = strings.ToValidUTF8(msg[:maxErrorHeader], "") + "…"
	}
	return strings.Map(func(r rune) rune {
		if r == '\t' || (r >= 0x20 && r != 0x7f) {
			return r
		}
		return '?'
	}, msg)
}

// ErrorBody renders {"error":"msg"} as InfluxDB does.
func ErrorBody(msg string) []byte {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	return append(b, '\n')
}

// decide applies the acknowledgement policy of DESIGN.md to what the
// backends said so far. all is the set of backends the write goes to; live
// the set that was caught up when it was appended (only those are expected
// to answer promptly). It returns false while the answer is still open.
func decide(o outcome, all, live uint64, c Consistency, timedOut bool) (Answer, bool) {
	n := count(all)
	need := c.needed(n)
	if count(o.accepted&all) >= need {
		if o.okStatus != 0 && o.okStatus != http.StatusNoContent {
			return Answer{Status: o.okStatus, Body: o.okBody}, true
		}
		return answerNoContent, true
	}
	refused := o.rejected & all
	refusal := Answer{Status: o.status, Body: o.body}
	if c == Any {
		silent := live &^ (o.accepted | o.rejected | o.failed)
		if silent != 0 && !timedOut {
			return Answer{}, false
		}
		// Every live backend spoke (or time is up) and none accepted:
		// a refusal is passed on; otherwise the write is durable and will
		// be delivered, which is what "any" promises.
		if refused != 0 {
			return refusal, true
		}
		return answerNoContent, true
	}
	if n-count(refused) < need {
		return refusal, true // can no longer be met
	}
	if !timedOut {
		return Answer{}, false
	}
	if o.accepted == 0 && refused != 0 {
		return refusal, true
	}
	return ErrorAnswer(http.StatusServiceUnavailable,
		"consistency level %q not met: %d of %d backends accepted the write within the write timeout; the write is stored and will still be delivered",
		c, count(o.accepted&all), n), true
}
