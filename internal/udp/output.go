package udp

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/throttle"
)

// Reasons a line is dropped, the "reason" label of
// influxgate_udp_dropped_lines_total and the keys of the Dropped maps.
const (
	// ReasonMalformed: InfluxDB would reject the line (lineproto.ValidateLinePrecision).
	ReasonMalformed = "malformed"
	// ReasonTooLong: the stamped line with its '\n' exceeds 65507 bytes, the
	// largest UDP payload, so no datagram can carry it (one UDP output).
	ReasonTooLong = "too_long"
	// ReasonSendError: the kernel refused the datagram that held the line,
	// for example because the backend's port is closed (one UDP output).
	ReasonSendError = "send_error"
	// ReasonLogBusy: the lines waiting for the log exceeded MaxPending
	// because appends were slower than the packets arriving (HTTP outputs).
	ReasonLogBusy = "log_busy"
	// ReasonLogUnavailable: the relay did not take the batch: its log cannot
	// be written, or a backlog is at its cap with overflow = "reject" (HTTP
	// outputs).
	ReasonLogUnavailable = "log_unavailable"
)

// output is one UDP output: its own connected socket and packer.
type output struct {
	name     string
	location string
	conn     *net.UDPConn
	packer   *lineproto.Packer
	// emit is o.send, bound once so that Pack gets the same func value on
	// every packet instead of a new closure.
	emit func(datagram []byte)
	log  *throttle.Log

	// Per-packet state, only touched by the reading goroutine.
	failedLines int
	sendErr     error

	lines     atomic.Uint64 // lines forwarded
	datagrams atomic.Uint64
	tooLong   atomic.Uint64
	failed    atomic.Uint64

	mu          sync.Mutex
	lastErr     string
	lastErrTime time.Time
}

// dialOutput resolves the output's host:port once, as influxdb-relay does,
// and opens a connected socket to it.
func dialOutput(o config.OutputConfig, log *throttle.Log) (*output, error) {
	raddr, err := net.ResolveUDPAddr("udp", o.Location.Reveal())
	if err != nil {
		return nil, fmt.Errorf("output %q: %w", o.Name, err)
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return nil, fmt.Errorf("output %q: %w", o.Name, err)
	}
	out := &output{name: o.Name, location: o.Location.String(), conn: conn, packer: lineproto.NewPacker(o.MTU), log: log}
	out.emit = out.send
	return out, nil
}

// forward sends body, which holds lines valid lines, in datagrams of at
// most the output's MTU.
func (o *output) forward(body []byte, lines int) {
	o.failedLines, o.sendErr = 0, nil
	tooLong := o.packer.Pack(body, o.emit)
	if sent := lines - tooLong - o.failedLines; sent > 0 {
		o.lines.Add(uint64(sent))
	}
	if tooLong > 0 {
		o.tooLong.Add(uint64(tooLong))
		o.log.Warn(o.name+"/"+ReasonTooLong, "dropped a line longer than the largest UDP datagram",
			"output", o.name, "lines", tooLong, "max_bytes", lineproto.MaxDatagram)
	}
	if o.failedLines > 0 {
		o.failed.Add(uint64(o.failedLines))
		o.mu.Lock()
		o.lastErr, o.lastErrTime = o.sendErr.Error(), time.Now()
		o.mu.Unlock()
		o.log.Warn(o.name+"/"+ReasonSendError, "cannot send to UDP output; lines dropped",
			"output", o.name, "location", o.location, "lines", o.failedLines, "err", o.sendErr)
	}
}

// send writes one datagram. A connected UDP socket reports an ICMP "port
// unreachable" from an earlier datagram as an error on a later write, so
// the loss is counted one datagram late, and a datagram lost in the
// network is not seen at all.
func (o *output) send(datagram []byte) {
	if _, err := o.conn.Write(datagram); err != nil {
		o.failedLines += lineproto.Count(datagram).Lines
		o.sendErr = err
		return
	}
	o.datagrams.Add(1)
}

func (o *output) stats() OutputStats {
	s := OutputStats{Name: o.name, Location: o.location, MTU: o.packer.MTU(),
		Lines: o.lines.Load(), Datagrams: o.datagrams.Load()}
	if n := o.tooLong.Load(); n > 0 {
		s.Dropped = map[string]uint64{ReasonTooLong: n}
	}
	if n := o.failed.Load(); n > 0 {
		if s.Dropped == nil {
			s.Dropped = map[string]uint64{}
		}
		s.Dropped[ReasonSendError] = n
	}
	o.mu.Lock()
	s.LastError, s.LastErrorAt = o.lastErr, o.lastErrTime
	o.mu.Unlock()
	return s
}
