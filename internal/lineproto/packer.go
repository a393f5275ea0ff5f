package lineproto

// MaxDatagram is the largest UDP payload over IPv4 (65535 minus the 8-byte
// UDP and 20-byte IP headers).
const MaxDatagram = 65507

// DefaultMTU is the datagram size NewPacker uses when given none, the same
// default as influxdb-relay's UDP outputs.
const DefaultMTU = 1024

// Packer packs lines into datagrams of at most MTU bytes for UDP outputs,
// splitting only at line boundaries: a datagram is one or more whole point
// lines, each ending in '\n' (one is added to an unterminated last line
// unless its bytes already end in '\n').
// Blank lines and comments are left out. A line longer than the MTU is sent
// alone if it fits in MaxDatagram bytes, otherwise it is dropped and
// counted. A Packer reuses one buffer and does not allocate per line; it is
// not safe for concurrent use.
type Packer struct {
	mtu int
	buf []byte
}

// NewPacker returns a Packer for datagrams of at most mtu bytes. An mtu of
// zero or less means DefaultMTU; one above MaxDatagram means MaxDatagram.
func NewPacker(mtu int) *Packer {
	if mtu <= 0 {
		mtu = DefaultMTU
	}
	if mtu > MaxDatagram {
		mtu = MaxDatagram
	}
	return &Packer{mtu: mtu, buf: make([]byte, 0, mtu)}
}

// MTU returns the datagram size limit in bytes.
func (p *Packer) MTU() int { return p.mtu }

// Pack calls emit for each datagram built from body, in order; the slice
// passed to emit is only valid during the call. It returns the number of
// lines dropped because they are longer than MaxDatagram with their '\n'.
func (p *Packer) Pack(body []byte, emit func(datagram []byte)) (dropped int) {
	buf := p.buf[:0]
	for i := 0; i < len(body); {
		end, _ := nextLine(body, i)
		line := body[i:end]
		i = end + 1
		if !isPoint(line) {
			continue
		}
		// Every line gets a '\n' terminator, except an unterminated last
		// line whose bytes already end in '\n' (the body ended inside what
		// InfluxDB's scanner took for a quoted string): InfluxDB strips one
		// trailing '\n' from such a line, so a second one would change it.
		size := len(line) + 1
		if end == len(body) && line[len(line)-1] == '\n' {
			size--
		}
		if len(buf) > 0 && len(buf)+size > p.mtu {
			emit(buf)
			buf = buf[:0]
		}
		if size > MaxDatagram {
			dropped++
			continue
		}
		buf = append(buf, line...)
		if size > len(line) {
			buf = append(buf, '\n')
		}
		if size > p.mtu {
			emit(buf) // an oversized line goes alone
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		emit(buf)
	}
	p.buf = buf[:0]
	return dropped
}
