package relay

import (
	"fmt"
	"net/http"

	"github.com/influxgate/influxgate/internal/influxerr"
)

// Answer is what the client of a write is told.
type Answer struct {
	Status int
	Body   []byte // InfluxDB-style JSON error body; empty for 204
}

// Message returns the error text of a failed answer.
func (a Answer) Message() string { return influxerr.Text(a.Body) }

var answerNoContent = Answer{Status: http.StatusNoContent}

// ErrorAnswer builds an InfluxDB-style error answer.
func ErrorAnswer(status int, format string, args ...any) Answer {
	return Answer{Status: status, Body: influxerr.Body(fmt.Sprintf(format, args...))}
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
