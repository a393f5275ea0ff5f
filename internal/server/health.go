package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/influxgate/influxgate/internal/relay"
)

// health is InfluxDB's health answer (name, message, status, version,
// checks) so 2.x client libraries can call it, with one check per backend
// carrying influxgate's delivery details.
type health struct {
	Name    string        `json:"name"`
	Message string        `json:"message"`
	Status  string        `json:"status"`
	Version string        `json:"version"`
	Checks  []healthCheck `json:"checks"`
	// UDP describes every [[udp]] listener (influxgate's own addition).
	UDP []udpHealth `json:"udp,omitempty"`
}

type healthCheck struct {
	Name          string            `json:"name"`
	Status        string            `json:"status"`
	Message       string            `json:"message"`
	Listener      string            `json:"listener"`
	Shard         string            `json:"shard,omitempty"`
	Location      string            `json:"location"`
	State         string            `json:"state"`
	BacklogRecs   uint64            `json:"backlog_records"`
	BacklogBytes  int64             `json:"backlog_bytes"`
	BacklogAge    float64           `json:"backlog_oldest_age_seconds"`
	Delivered     uint64            `json:"delivered_points"`
	Rejected      map[string]uint64 `json:"rejected_points,omitempty"`
	Dropped       map[string]uint64 `json:"dropped_points,omitempty"`
	DeadLetters   uint64            `json:"dead_letter_records"`
	LastError     string            `json:"last_error,omitempty"`
	LastErrorAt   *time.Time        `json:"last_error_at,omitempty"`
	DivergedSince *time.Time        `json:"diverged_since,omitempty"`
	// CursorNote says why delivery did not resume at the stored cursor (a
	// damaged cursor file); shown until the next restart.
	CursorNote string `json:"cursor_note,omitempty"`
	// Backfill is the continuous-query backfill of the backend; absent
	// when cq-backfill = false.
	Backfill *backfillHealth `json:"cq_backfill,omitempty"`
	// Deliverer names the node that delivers to the backend when the log
	// is in NATS JetStream; Standby says that it is another node, whose
	// reports the state, backlog and last error mirror.
	Deliverer string `json:"deliverer,omitempty"`
	Standby   bool   `json:"standby,omitempty"`
}

type backfillHealth struct {
	State      string     `json:"state"` // idle, pending, queued, running
	Runs       uint64     `json:"runs"`
	Failures   uint64     `json:"failures"`
	LastRunAt  *time.Time `json:"last_run_at,omitempty"`
	Statements int        `json:"last_statements,omitempty"`
	Intervals  int64      `json:"last_intervals,omitempty"`
	Skipped    int64      `json:"last_skipped_intervals,omitempty"`
	Failed     []string   `json:"last_failed,omitempty"`
	Error      string     `json:"last_error,omitempty"`
}

// serveHealth answers 200 when the listener accepts writes (its log is
// writable) and 503 when it does not, whatever the backends' states: a
// write accepted while a backend is down is still delivered later. It
// answers 503 too while the listener is a lame duck (shutting down). With
// ?verbose it answers the same status with a text table for people.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request, l *listener) {
	h, status := s.healthOf(l)
	if verbose(r) {
		writeHealthText(w, status, h)
		return
	}
	writeJSON(w, status, h)
}

// verbose reports a ?verbose parameter that is not "false" or "0".
func verbose(r *http.Request) bool {
	q := r.URL.Query()
	v := q.Get("verbose")
	return q.Has("verbose") && v != "0" && v != "false"
}

// healthOf builds the health answer of a listener and its HTTP status.
func (s *Server) healthOf(l *listener) (health, int) {
	h := health{Name: "influxgate", Status: "pass", Version: s.opts.Version}
	down, behind, backends := 0, 0, 0
	for _, rs := range l.sets {
		st := rs.relay.Stats()
		for _, b := range st.Backends {
			backends++
			c := s.backendCheck(l.name, rs.shard, b)
			switch b.State {
			case relay.StateDown:
				down++
			case relay.StateReplaying:
				behind++
			}
			h.Checks = append(h.Checks, c)
		}
	}
	status := http.StatusOK
	if l.lameDuck.Load() {
		// Writes are still accepted; the balancer should stop sending them.
		h.Status, h.Message = "fail", "shutting down: this node still serves the requests it receives but is about to stop; send new ones to another node"
		status = http.StatusServiceUnavailable
	} else if err := l.ready(); err != nil {
		h.Status, h.Message = "fail", "not accepting writes: "+err.Error()
		status = http.StatusServiceUnavailable
	} else {
		h.Message = fmt.Sprintf("ready for writes; %d of %d backends live, %d replaying, %d down",
			backends-down-behind, backends, behind, down)
	}
	if l.shards != nil && l.shards.Route().Moving() {
		h.Message += "; a rebalance is moving keys between shards"
	}
	h.UDP = s.udpHealth()
	return h, status
}

// backendCheck is one backend's entry under checks.
func (s *Server) backendCheck(listener, shardName string, b relay.BackendStats) healthCheck {
	c := healthCheck{Name: b.Name, Status: "pass", Listener: listener, Shard: shardName, Location: b.Location,
		State: b.State.String(), BacklogRecs: b.Backlog.Records, BacklogBytes: b.Backlog.Bytes,
		BacklogAge: b.Backlog.OldestAge.Seconds(), Delivered: b.Delivered, Rejected: b.Rejected,
		Dropped: b.Dropped, DeadLetters: b.DeadLetters, LastError: b.LastError}
	if !b.LastErrorAt.IsZero() {
		t := b.LastErrorAt.UTC()
		c.LastErrorAt = &t
	}
	switch b.State {
	case relay.StateDown:
		c.Status, c.Message = "fail", "down: "+b.LastError
	case relay.StateReplaying:
		c.Message = fmt.Sprintf("replaying a backlog of %d records", b.Backlog.Records)
	default:
		c.Message = "live"
	}
	if !b.DivergedSince.IsZero() {
		t := b.DivergedSince.UTC()
		c.DivergedSince = &t
		c.Status = "fail"
		c.Message += fmt.Sprintf("; diverged since %s: the overflow policy skipped records", t.Format(time.RFC3339))
	}
	if b.CursorNote != "" {
		c.CursorNote = b.CursorNote
		c.Message += "; " + b.CursorNote
	}
	if b.DeadLetters > 0 {
		c.Message += fmt.Sprintf("; %d records in the dead-letter store", b.DeadLetters)
	}
	c.Deliverer, c.Standby = b.Deliverer, b.Standby
	if b.Standby && b.Deliverer != "" {
		c.Message += "; delivered by node " + b.Deliverer
	}
	if bf := b.Backfill; bf != nil {
		c.Backfill = &backfillHealth{State: bf.State, Runs: bf.Runs, Failures: bf.Failures,
			Statements: bf.Last.Statements, Intervals: bf.Last.Intervals, Skipped: bf.Last.Skipped,
			Failed: bf.Last.Failed, Error: bf.Last.Error}
		if !bf.Last.At.IsZero() {
			t := bf.Last.At.UTC()
			c.Backfill.LastRunAt = &t
		}
		if bf.State != "idle" {
			c.Message += "; continuous-query backfill " + bf.State
		}
	}
	return c
}
