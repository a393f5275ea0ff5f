package udp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/throttle"
)

// Defaults for the batching of lines into log records.
const (
	DefaultFlushInterval = 100 * time.Millisecond
	DefaultFlushBytes    = 256 << 10
	DefaultMaxPending    = 32 << 20
)

// readBufferSize holds any UDP payload (65507 bytes over IPv4, 65527 over
// IPv6 without jumbograms), so no datagram is ever truncated.
const readBufferSize = 64 << 10

// Options configure a Listener.
type Options struct {
	// Config is the [[udp]] section, with defaults applied.
	Config config.UDPConfig
	// Relay takes the lines for the section's HTTP outputs. It is required
	// when the section has HTTP outputs and must be nil otherwise. The
	// Listener writes to it but neither starts nor closes it; close it
	// after the Listener.
	Relay *relay.Relay
	// FlushInterval is the longest time a line waits before it is appended
	// to the log (default DefaultFlushInterval).
	FlushInterval time.Duration
	// FlushBytes: a batch is appended once it holds this many bytes
	// (default the smallest max-batch-kb of the HTTP outputs, at most
	// DefaultFlushBytes), so that one record fits in one request.
	FlushBytes int
	// MaxPending bounds the bytes waiting for the log; lines beyond it are
	// dropped as "log_busy" (default DefaultMaxPending).
	MaxPending int
	Logger     *slog.Logger
	// Now is the clock that stamps lines; nil means time.Now.
	Now func() time.Time
}

// Listener is one [[udp]] section: a bound socket, its UDP outputs and,
// with HTTP outputs, a batcher that feeds the section's relay.
type Listener struct {
	name    string
	cfg     config.UDPConfig
	prec    lineproto.Precision
	conn    *net.UDPConn
	outputs []*output
	batch   *batcher // nil without HTTP outputs
	now     func() time.Time
	logger  *slog.Logger
	log     *throttle.Log
	cleaner cleaner

	started   bool
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	packets    atomic.Uint64
	bytes      atomic.Uint64
	lines      atomic.Uint64
	stamped    atomic.Uint64
	malformed  atomic.Uint64
	readErrors atomic.Uint64
	panics     atomic.Uint64
}

// Listen binds the section's address, sets its receive buffer and opens a
// socket per UDP output, so that every problem shows at start. Call Start
// to begin reading.
func Listen(opts Options) (_ *Listener, err error) {
	c := opts.Config
	prec, err := lineproto.ParsePrecisionV1(c.Precision)
	if err != nil {
		return nil, fmt.Errorf("[[udp]] %q precision: %w", c.Name, err)
	}
	var udpOuts, httpOuts []config.OutputConfig
	for _, o := range c.Outputs {
		if o.IsHTTP() {
			httpOuts = append(httpOuts, o)
		} else {
			udpOuts = append(udpOuts, o)
		}
	}
	switch {
	case len(httpOuts) > 0 && opts.Relay == nil:
		return nil, fmt.Errorf("[[udp]] %q: HTTP outputs need a relay", c.Name)
	case len(httpOuts) == 0 && opts.Relay != nil:
		return nil, fmt.Errorf("[[udp]] %q: a relay without HTTP outputs", c.Name)
	case opts.Relay != nil && c.Database == "":
		return nil, fmt.Errorf("[[udp]] %q: HTTP outputs need database", c.Name)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := opts.Logger.With("component", "udp", "listener", c.Name)
	l := &Listener{name: c.Name, cfg: c, prec: prec, now: opts.Now, logger: logger,
		log: throttle.New(logger, 10*time.Second), cleaner: cleaner{prec: prec}}
	defer func() {
		if err != nil {
			if l.conn != nil {
				l.conn.Close()
			}
			l.closeOutputs()
		}
	}()
	laddr, err := net.ResolveUDPAddr("udp", c.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("[[udp]] %q bind-addr: %w", c.Name, err)
	}
	if l.conn, err = net.ListenUDP("udp", laddr); err != nil {
		return nil, fmt.Errorf("[[udp]] %q bind-addr: %w", c.Name, err)
	}
	if c.ReadBuffer > 0 {
		if err := l.conn.SetReadBuffer(c.ReadBuffer); err != nil {
			return nil, fmt.Errorf("[[udp]] %q read-buffer: %w", c.Name, err)
		}
		if got, ok := readBuffer(l.conn); ok && got < c.ReadBuffer {
			logger.Warn("the kernel capped the receive buffer below read-buffer; raise net.core.rmem_max",
				"read_buffer", c.ReadBuffer, "effective", got)
		}
	}
	for _, o := range udpOuts {
		out, err := dialOutput(o, l.log)
		if err != nil {
			return nil, fmt.Errorf("[[udp]] %q %w", c.Name, err)
		}
		l.outputs = append(l.outputs, out)
	}
	if opts.Relay != nil {
		l.batch = newBatcher(opts.Relay,
			record.Record{DB: c.Database, RP: c.RetentionPolicy, Precision: uint8(prec)},
			orDefault(opts.FlushInterval, DefaultFlushInterval), flushBytes(opts, httpOuts),
			orDefault(opts.MaxPending, DefaultMaxPending), l.log)
	}
	return l, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// flushBytes keeps a record no larger than the smallest max-batch-kb, so
// that the delivery workers never have to send one alone above the limit
// the operator set.
func flushBytes(opts Options, httpOuts []config.OutputConfig) int {
	if opts.FlushBytes > 0 {
		return opts.FlushBytes
	}
	n := DefaultFlushBytes
	for _, o := range httpOuts {
		if kb := o.MaxBatchKB << 10; kb > 0 && kb < n {
			n = kb
		}
	}
	return n
}

// Name returns the section's name.
func (l *Listener) Name() string { return l.name }

// Addr returns the bound address (useful with port 0).
func (l *Listener) Addr() net.Addr { return l.conn.LocalAddr() }

// Start begins reading packets and, with HTTP outputs, flushing batches.
func (l *Listener) Start() {
	l.started = true
	if l.batch != nil {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.batch.run()
		}()
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.serve()
	}()
}

// Close stops reading, appends the lines still waiting to the log and
// closes the sockets. Close the relay after it.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		err := l.conn.Close() // ends serve's Read
		if l.batch != nil && l.started {
			close(l.batch.stop)
		}
		l.wg.Wait()
		if l.batch != nil {
			l.batch.flush()
		}
		l.closeErr = errors.Join(err, l.closeOutputs())
	})
	return l.closeErr
}

func (l *Listener) closeOutputs() error {
	var errs []error
	for _, o := range l.outputs {
		errs = append(errs, o.conn.Close())
	}
	return errors.Join(errs...)
}

// serve reads packets until the socket is closed. The buffer is reused:
// everything a packet leads to (forwarding, batching) copies what it keeps.
func (l *Listener) serve() {
	buf := make([]byte, readBufferSize)
	for {
		n, err := l.conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.readErrors.Add(1)
			l.log.Warn("read", "cannot read from the UDP socket", "err", err)
			time.Sleep(10 * time.Millisecond) // do not spin on a persistent error
			continue
		}
		l.handle(buf[:n])
	}
}

// handle processes one packet. A panic (a bug, which the fuzz tests look
// for) costs that packet only, never the listener.
func (l *Listener) handle(pkt []byte) {
	defer func() {
		if p := recover(); p != nil {
			l.panics.Add(1)
			l.logger.Error("processing a UDP packet panicked; packet dropped",
				"panic", fmt.Sprint(p), "bytes", len(pkt), "stack", string(debug.Stack()))
		}
	}()
	now := l.now()
	l.packets.Add(1)
	l.bytes.Add(uint64(len(pkt)))
	body, r := l.cleaner.clean(pkt, l.prec.Timestamp(now))
	l.lines.Add(uint64(r.lines))
	l.stamped.Add(uint64(r.stamped))
	if r.malformed > 0 {
		l.malformed.Add(uint64(r.malformed))
		l.log.Warn(ReasonMalformed, "dropped malformed UDP lines", "lines", r.malformed,
			"first", clip(r.firstErr.Error(), 200))
	}
	valid := r.valid()
	if valid == 0 {
		return
	}
	for _, o := range l.outputs {
		o.forward(body, valid)
	}
	if l.batch != nil {
		l.batch.add(body, valid, now)
	}
}

// clip shortens s for a log line: a malformed line can be 64 KiB.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
