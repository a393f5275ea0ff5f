package shard

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/influxgate/influxgate/internal/relay"
)

// Combine makes one answer of the answers of a write's parts, the way one
// InfluxDB would have answered the whole write:
//   - every part accepted: 204;
//   - a part that could not be taken (5xx: its log, a full backlog, a
//     consistency level not met): that answer, so the client tries again
//     (parts already in a log stay there; a repeated point is harmless);
//   - a part refused for a reason of the backends' state (401, 403, 404):
//     that answer;
//   - parts refused as bad data (400): when another part was accepted or a
//     refusal was itself a partial write, InfluxDB's "partial write: ..."
//     with the messages joined by newlines and the dropped counts summed;
//     otherwise the messages joined under the first refusal's status.
func Combine(answers []relay.Answer) relay.Answer {
	if len(answers) == 1 {
		return answers[0]
	}
	var bad []relay.Answer
	accepted := false
	for _, a := range answers {
		switch {
		case a.Status >= 500:
			return a
		case a.Status >= 200 && a.Status < 300:
			accepted = true
		default:
			bad = append(bad, a)
		}
	}
	if len(bad) == 0 {
		return relay.Answer{Status: http.StatusNoContent}
	}
	for _, a := range bad {
		if a.Status != http.StatusBadRequest {
			return a
		}
	}
	if len(bad) == 1 && !accepted {
		return bad[0]
	}
	partial := accepted
	dropped := 0
	var msgs []string
	for _, a := range bad {
		msg := a.Message()
		if rest, ok := strings.CutPrefix(msg, "partial write: "); ok {
			partial = true
			msg = rest
		}
		if i := strings.LastIndex(msg, " dropped="); i >= 0 {
			if n, err := strconv.Atoi(msg[i+len(" dropped="):]); err == nil {
				dropped += n
				msg = msg[:i]
			}
		}
		msgs = append(msgs, msg)
	}
	joined := strings.Join(msgs, "\n")
	if partial {
		return relay.ErrorAnswer(http.StatusBadRequest, "partial write: %s dropped=%d", joined, dropped)
	}
	return relay.ErrorAnswer(http.StatusBadRequest, "%s", joined)
}
