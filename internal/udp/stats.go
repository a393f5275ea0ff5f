package udp

import "time"

// Stats is a snapshot of a listener, for /health and /metrics.
type Stats struct {
	Name      string
	Addr      string
	Precision string
	Database  string // "" without HTTP outputs
	Packets   uint64 // datagrams received
	Bytes     uint64 // bytes received
	Lines     uint64 // point lines received (blank lines and comments excluded)
	Stamped   uint64 // lines that got their timestamp from influxgate
	// Logged is the number of lines appended to the log for the HTTP
	// outputs, in LogRecords records (their delivery is in the relay's
	// stats).
	Logged     uint64
	LogRecords uint64
	// Dropped counts lines dropped before they reached any output, by
	// reason: "malformed" (no output got them), "log_busy" and
	// "log_unavailable" (the HTTP outputs did not get them).
	Dropped    map[string]uint64
	ReadErrors uint64 // failed reads from the socket
	Panics     uint64 // packets lost to a bug in their processing
	Outputs    []OutputStats
}

// OutputStats is a snapshot of one UDP output.
type OutputStats struct {
	Name      string
	Location  string
	MTU       int
	Lines     uint64            // lines sent
	Datagrams uint64            // datagrams sent
	Dropped   map[string]uint64 // "too_long", "send_error"
	LastError string
	// LastErrorAt is when LastError happened; zero if never.
	LastErrorAt time.Time
}

// Stats returns a snapshot of the listener's counters.
func (l *Listener) Stats() Stats {
	s := Stats{Name: l.name, Addr: l.conn.LocalAddr().String(), Precision: l.prec.V1(),
		Packets: l.packets.Load(), Bytes: l.bytes.Load(), Lines: l.lines.Load(),
		Stamped: l.stamped.Load(), ReadErrors: l.readErrors.Load(), Panics: l.panics.Load(),
		Dropped: map[string]uint64{}}
	if n := l.malformed.Load(); n > 0 {
		s.Dropped[ReasonMalformed] = n
	}
	if b := l.batch; b != nil {
		s.Database = l.cfg.Database
		s.Logged, s.LogRecords = b.logged.Load(), b.records.Load()
		if n := b.busy.Load(); n > 0 {
			s.Dropped[ReasonLogBusy] = n
		}
		if n := b.unavailable.Load(); n > 0 {
			s.Dropped[ReasonLogUnavailable] = n
		}
	}
	for _, o := range l.outputs {
		s.Outputs = append(s.Outputs, o.stats())
	}
	return s
}
