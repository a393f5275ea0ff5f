package server

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// writeHealthText renders /health?verbose: the same facts as the JSON, as
// a table a person reads in a terminal (curl) or a browser, with what each
// column means. The status code is the JSON's, so a person sees what a
// load balancer sees.
func writeHealthText(w http.ResponseWriter, status int, h health) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	verdict := "PASS: accepting writes"
	if status != http.StatusOK {
		verdict = "FAIL: not accepting writes"
	}
	listener := ""
	if len(h.Checks) > 0 {
		listener = h.Checks[0].Listener
	}
	fmt.Fprintf(w, "influxgate %s, listener %q: %s (HTTP %d)\n%s\n\n", h.Version, listener, verdict, status, h.Message)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tCHECK\tSTATE\tBACKLOG\tOLDEST\tDELIVERED\tREJECTED\tDROPPED\tDEAD LETTERS\tLOCATION")
	for _, c := range h.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d rec, %s\t%s\t%d\t%d\t%d\t%d\t%s\n", c.Name, c.Status, c.State,
			c.BacklogRecs, humanBytes(c.BacklogBytes), humanAge(c.BacklogAge), c.Delivered,
			sum(c.Rejected), sum(c.Dropped), c.DeadLetters, c.Location)
	}
	_ = tw.Flush()

	var notes []string
	for _, c := range h.Checks {
		if c.LastError != "" && c.LastErrorAt != nil {
			notes = append(notes, fmt.Sprintf("%s: last error %s ago: %s", c.Name,
				time.Since(*c.LastErrorAt).Round(time.Second), c.LastError))
		}
		if c.DivergedSince != nil {
			notes = append(notes, fmt.Sprintf("%s: DIVERGED since %s: the overflow policy skipped records it will never receive; resync it (docs/operations.md)",
				c.Name, c.DivergedSince.Format(time.RFC3339)))
		}
		if len(c.Rejected) > 0 {
			notes = append(notes, fmt.Sprintf("%s: rejected points by reason: %s", c.Name, byReason(c.Rejected)))
		}
		if len(c.Dropped) > 0 {
			notes = append(notes, fmt.Sprintf("%s: dropped points by reason: %s", c.Name, byReason(c.Dropped)))
		}
		if c.DeadLetters > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d records wait in its dead-letter store: fix the backend, then run `influxgate dead-letter -config FILE -listener %s -output %s replay`",
				c.Name, c.DeadLetters, c.Listener, c.Name))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n"))
	}
	fmt.Fprint(w, healthLegend)
}

const healthLegend = `
CHECK         pass, or fail when the backend is down or has diverged. A failing
              backend does not make /health fail: its writes wait in the log.
STATE         live: caught up, receives writes as they arrive.
              replaying: catching up from the log, in order; gets no reads yet.
              down: unreachable or failing; its writes wait in the log.
BACKLOG       records and bytes of the log the backend has not received yet;
OLDEST        the age of the oldest of them ("-" when there are none).
DELIVERED     points the backend accepted since start.
REJECTED      points the backend refused as bad data (never retried).
DROPPED       points skipped for it: overflow policy or a damaged log record.
DEAD LETTERS  records only this backend refused (missing database, user),
              kept apart for "influxgate dead-letter replay".

Load balancers: use /health without ?verbose (JSON; 200 while writes are
accepted, 503 when not). The status page is at /status.
`

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

func byReason(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func humanAge(seconds float64) string {
	if seconds <= 0 {
		return "-"
	}
	d := time.Duration(seconds * float64(time.Second))
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
