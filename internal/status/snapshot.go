package status

import (
	"time"

	"github.com/influxgate/influxgate/internal/relay"
)

// Snapshot is the /status.json answer: the current state of every
// listener and backend, and the sampled history behind the charts. History
// series are aligned with History.Times; null marks a sample where the
// value did not exist (a backend added later) or no rate could be taken.
type Snapshot struct {
	Version         string     `json:"version"`
	Time            time.Time  `json:"time"`
	IntervalSeconds float64    `json:"interval_seconds"`
	Ready           bool       `json:"ready"` // every listener accepts writes
	History         History    `json:"history"`
	Listeners       []Listener `json:"listeners"`
}

// History holds the times of the samples and the process-wide write rate.
type History struct {
	Times []int64 `json:"t"` // Unix milliseconds
	// WritePoints is the points accepted per second, all listeners.
	WritePoints []*float64 `json:"write_points_per_second"`
}

// Listener is one [[http]] section's relay.
type Listener struct {
	Name        string    `json:"name"`
	Ready       bool      `json:"ready"`
	Message     string    `json:"message,omitempty"` // why writes are refused
	LogBytes    int64     `json:"log_bytes"`
	LogSegments int       `json:"log_segments"`
	LogRecords  uint64    `json:"log_records"`
	Backends    []Backend `json:"backends"`
	// WriteRecords is the history of log records appended per second.
	WriteRecords []*float64 `json:"write_records_per_second"`
}

// Backend is one output of a listener.
type Backend struct {
	Name           string  `json:"name"`
	Location       string  `json:"location"` // redacted by config.Location
	State          string  `json:"state"`    // live, replaying, down
	BacklogRecords uint64  `json:"backlog_records"`
	BacklogBytes   int64   `json:"backlog_bytes"`
	BacklogAge     float64 `json:"backlog_oldest_age_seconds"`
	// BacklogTrend compares the backlog with that of TrendSpan ago:
	// "growing", "shrinking" or "steady".
	BacklogTrend    string            `json:"backlog_trend"`
	BufferSizeBytes int64             `json:"buffer_size_bytes,omitempty"`
	Delivered       uint64            `json:"delivered_points"`
	DeliveredRate   *float64          `json:"delivered_points_per_second"`
	Requests        uint64            `json:"requests"`
	Retries         uint64            `json:"retries"`
	Rejected        map[string]uint64 `json:"rejected_points,omitempty"`
	Dropped         map[string]uint64 `json:"dropped_points,omitempty"`
	DeadLetters     uint64            `json:"dead_letter_records"`
	DivergedSince   *time.Time        `json:"diverged_since,omitempty"`
	LastError       string            `json:"last_error,omitempty"`
	LastErrorAt     *time.Time        `json:"last_error_at,omitempty"`
	// LastErrorCurrent says whether the last error still describes the
	// backend (see ErrorCurrentFor): the page shows it in red then, and
	// greyed with its age once the backend has been working for a while.
	LastErrorCurrent bool `json:"last_error_current,omitempty"`
	// Backfill is the continuous-query backfill of the backend; absent
	// when cq-backfill = false.
	Backfill *Backfill `json:"cq_backfill,omitempty"`
	// CursorNote says why delivery did not resume at the stored cursor.
	CursorNote string `json:"cursor_note,omitempty"`
	// History of the backlog and of the delivery rate.
	BacklogHistory   []*float64 `json:"backlog_records_history"`
	DeliveredHistory []*float64 `json:"delivered_points_per_second_history"`
}

// Backfill is a backend's continuous-query backfill.
type Backfill struct {
	State     string     `json:"state"` // idle, pending, queued, running
	Runs      uint64     `json:"runs"`
	Failures  uint64     `json:"failures"`
	LastRunAt *time.Time `json:"last_run_at,omitempty"`
	Intervals int64      `json:"last_intervals"`
	LastError string     `json:"last_error,omitempty"`
}

// TrendSpan is how far back BacklogTrend looks.
const TrendSpan = 10 * time.Second

// ErrorCurrentFor is how long a backend's last error stays current once
// the backend works again: an error is current while the backend is down,
// and for this long after it happened (a retried failure of a live
// backend is news for a minute; a backend live for minutes is not in
// trouble because of an old error).
const ErrorCurrentFor = time.Minute

// Snapshot returns the current state and the history.
func (p *Page) Snapshot() Snapshot {
	hist := p.history()
	now := p.now()
	snap := Snapshot{Version: p.opts.Version, Time: now.UTC(), IntervalSeconds: p.opts.Interval.Seconds(), Ready: true}
	snap.History.Times = make([]int64, len(hist))
	snap.History.WritePoints = make([]*float64, len(hist))
	for i, s := range hist {
		snap.History.Times[i] = s.at.UnixMilli()
		if i > 0 {
			snap.History.WritePoints[i] = rate(hist[i-1].accepted, s.accepted, s.at.Sub(hist[i-1].at))
		}
	}
	for _, src := range p.opts.Sources() {
		st := src.Stats()
		l := Listener{Name: st.Name, Ready: true, LogBytes: st.LogBytes, LogSegments: st.Segments,
			WriteRecords: make([]*float64, len(hist))}
		if st.LastIndex >= st.FirstIndex && st.LastIndex > 0 {
			l.LogRecords = st.LastIndex - st.FirstIndex + 1
		}
		if err := src.Ready(); err != nil {
			l.Ready, l.Message, snap.Ready = false, err.Error(), false
		}
		for i := 1; i < len(hist); i++ {
			prev, ok1 := hist[i-1].appended[st.Name]
			cur, ok2 := hist[i].appended[st.Name]
			if ok1 && ok2 {
				l.WriteRecords[i] = rate(prev, cur, hist[i].at.Sub(hist[i-1].at))
			}
		}
		for _, b := range st.Backends {
			l.Backends = append(l.Backends, backendOf(st.Name, b, hist, now))
		}
		snap.Listeners = append(snap.Listeners, l)
	}
	return snap
}

func backendOf(listener string, b relay.BackendStats, hist []sample, now time.Time) Backend {
	out := Backend{
		Name: b.Name, Location: b.Location, State: b.State.String(),
		BacklogRecords: b.Backlog.Records, BacklogBytes: b.Backlog.Bytes, BacklogAge: b.Backlog.OldestAge.Seconds(),
		BufferSizeBytes: b.BufferSizeBytes, Delivered: b.Delivered, Requests: b.Requests, Retries: b.Retries,
		Rejected: b.Rejected, Dropped: b.Dropped, DeadLetters: b.DeadLetters, LastError: b.LastError,
		BacklogHistory: make([]*float64, len(hist)), DeliveredHistory: make([]*float64, len(hist)),
	}
	if !b.DivergedSince.IsZero() {
		t := b.DivergedSince.UTC()
		out.DivergedSince = &t
	}
	out.CursorNote = b.CursorNote
	if bf := b.Backfill; bf != nil {
		out.Backfill = &Backfill{State: bf.State, Runs: bf.Runs, Failures: bf.Failures,
			Intervals: bf.Last.Intervals, LastError: bf.Last.Error}
		if !bf.Last.At.IsZero() {
			t := bf.Last.At.UTC()
			out.Backfill.LastRunAt = &t
		}
	}
	if !b.LastErrorAt.IsZero() {
		t := b.LastErrorAt.UTC()
		out.LastErrorAt = &t
	}
	out.LastErrorCurrent = b.LastError != "" &&
		(b.State == relay.StateDown || b.LastErrorAt.IsZero() || now.Sub(b.LastErrorAt) < ErrorCurrentFor)
	k := key{listener, b.Name}
	var then *backendSample // the sample nearest to TrendSpan ago
	for i, s := range hist {
		cur, ok := s.backends[k]
		if !ok {
			continue
		}
		v := float64(cur.backlogRecords)
		out.BacklogHistory[i] = &v
		if i > 0 {
			if prev, ok := hist[i-1].backends[k]; ok {
				out.DeliveredHistory[i] = rate(prev.delivered, cur.delivered, s.at.Sub(hist[i-1].at))
			}
		}
		if then == nil || now.Sub(s.at) >= TrendSpan {
			c := cur
			then = &c
		}
	}
	if n := len(hist); n > 0 {
		out.DeliveredRate = out.DeliveredHistory[n-1]
	}
	out.BacklogTrend = "steady"
	if then != nil {
		switch {
		case b.Backlog.Records > then.backlogRecords:
			out.BacklogTrend = "growing"
		case b.Backlog.Records < then.backlogRecords:
			out.BacklogTrend = "shrinking"
		}
	}
	return out
}
