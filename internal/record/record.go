// Package record defines the unit influxgate stores in its durable log: one
// accepted write (or, later, one schema-changing query) with everything a
// backend needs to deliver it again after a crash — target database and
// retention policy, precision, the client's credentials for pass-through
// auth, the receipt time, and the line-protocol body with every timestamp
// already fixed.
//
// The encoding is a small hand-written binary header followed by the body.
// It is hand-written because it sits on the hot path (one encode per write,
// one decode per delivery) and must decode without copying the body; a
// general serializer would allocate and copy. The first byte is a format
// version so that a newer influxgate can still read an older log.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Kind says what a record holds.
type Kind uint8

const (
	// KindWrite is line protocol for /write.
	KindWrite Kind = 1
	// KindQuery is an InfluxQL statement that changes schema or data and
	// must reach every backend in order with the writes around it.
	KindQuery Kind = 2
	// KindBackfill asks one backend (Only) to recompute its continuous
	// queries over the time ranges of points it received late; Body is a
	// backfill.Spec in JSON. It goes through the log so that it survives a
	// crash and keeps its place among the writes.
	KindBackfill Kind = 3
)

// version is the encoding version written as the first byte.
const version = 1

// Flags describe a record's body and how it was authorised.
const (
	// FlagOpenEnd: the body's last line runs on into whatever follows it
	// (lineproto.Stats.OpenEnd), so no other body may follow it in a
	// joined request.
	FlagOpenEnd uint8 = 1 << iota
	// FlagGatewayAuthorized: a KindQuery statement that influxgate's
	// gateway authorised (the client's rights allowed it), so it is sent,
	// and replayed, with the output's credentials. Without it a statement
	// carries only the client's own credentials (Auth): an output's
	// credentials must not lend their privileges to a client that did not
	// prove its own. Records written before the flag existed lack it and so
	// fall on that safe side.
	FlagGatewayAuthorized
)

// Auth holds the credentials a client sent, kept so that pass-through auth
// works on replay too. At most one form is usually set.
type Auth struct {
	Header   string // the Authorization header value ("Basic ...", "Token ...")
	Username string // the u query parameter
	Password string // the p query parameter
}

// IsZero reports whether no credentials were sent.
func (a Auth) IsZero() bool { return a.Header == "" && a.Username == "" && a.Password == "" }

// Record is one accepted write or schema change.
type Record struct {
	Kind      Kind
	Received  int64  // receipt time, Unix nanoseconds
	DB        string // database (from db, or the part of a v2 bucket before '/')
	RP        string // retention policy ("" = the database's default)
	Org       string // organisation of a /api/v2/write (forwarded to 2.x backends)
	Precision uint8  // lineproto.Precision of the body's timestamps
	Flags     uint8  // FlagOpenEnd, FlagGatewayAuthorized
	Lines     uint32 // points in Body (for accounting of drops)
	Only      string // when set, only this output receives the record (dead-letter replay)
	Auth      Auth
	// Params holds extra query parameters of a KindQuery record, encoded as
	// a URL query string (e.g. "params=..."); empty for writes.
	Params string
	// Body is line protocol (KindWrite) or the InfluxQL text (KindQuery).
	// After Decode it aliases the encoded buffer.
	Body []byte
}

// ErrCorrupt is returned by Decode for data that is not a valid record.
var ErrCorrupt = errors.New("record: corrupt encoding")

// AppendEncode appends the encoding of r to dst and returns the result.
func (r *Record) AppendEncode(dst []byte) []byte {
	return append(r.AppendHeader(dst), r.Body...)
}

// Encode returns the encoding of r in a new slice of its exact size.
//
// It appends the body to a full slice holding the header, so that the
// runtime allocates the result without zeroing it first (it clears only
// what the append does not overwrite); make([]byte, 0, n) followed by
// AppendEncode would clear all n bytes and then copy over them, a 500 KB
// memclr per large write on the write path.
func (r *Record) Encode() []byte {
	h := r.AppendHeader(make([]byte, 0, r.EncodedSize()-len(r.Body)))
	return append(h[:len(h):len(h)], r.Body...)
}

// AppendHeader appends everything of r's encoding but the body, which
// follows it: a caller that builds a body piece by piece can build the
// encoding in place, with room for the body reserved after the header
// (EncodedSize of r with no Body bounds the header).
func (r *Record) AppendHeader(dst []byte) []byte {
	dst = append(dst, version, byte(r.Kind), r.Precision, r.Flags)
	dst = binary.AppendVarint(dst, r.Received)
	dst = binary.AppendUvarint(dst, uint64(r.Lines))
	for _, s := range [...]string{r.DB, r.RP, r.Org, r.Only, r.Auth.Header, r.Auth.Username, r.Auth.Password, r.Params} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// EncodedSize returns an upper bound of the encoded length of r, for sizing
// a buffer before AppendEncode.
func (r *Record) EncodedSize() int {
	n := 4 + 2*binary.MaxVarintLen64
	for _, s := range [...]string{r.DB, r.RP, r.Org, r.Only, r.Auth.Header, r.Auth.Username, r.Auth.Password, r.Params} {
		n += binary.MaxVarintLen64 + len(s)
	}
	return n + len(r.Body)
}

// Decode parses an encoded record. The returned Body aliases data; the
// strings are copies.
func Decode(data []byte) (Record, error) {
	var r Record
	if len(data) < 4 {
		return r, ErrCorrupt
	}
	if data[0] != version {
		return r, fmt.Errorf("record: unknown encoding version %d", data[0])
	}
	r.Kind, r.Precision, r.Flags = Kind(data[1]), data[2], data[3]
	if r.Kind != KindWrite && r.Kind != KindQuery && r.Kind != KindBackfill {
		return r, fmt.Errorf("record: unknown kind %d", data[1])
	}
	p := data[4:]
	v, n := binary.Varint(p)
	if n <= 0 {
		return r, ErrCorrupt
	}
	r.Received, p = v, p[n:]
	u, n := binary.Uvarint(p)
	if n <= 0 || u > 1<<32-1 {
		return r, ErrCorrupt
	}
	r.Lines, p = uint32(u), p[n:]
	for _, s := range [...]*string{&r.DB, &r.RP, &r.Org, &r.Only, &r.Auth.Header, &r.Auth.Username, &r.Auth.Password, &r.Params} {
		l, n := binary.Uvarint(p)
		if n <= 0 || l > uint64(len(p)-n) {
			return r, ErrCorrupt
		}
		*s, p = string(p[n:n+int(l)]), p[n+int(l):]
	}
	r.Body = p
	return r, nil
}

// SameBatch reports whether a and b may be merged into one request to a
// backend: same kind (writes only), destination, precision, credentials and
// target output.
func SameBatch(a, b *Record) bool {
	return a.Kind == KindWrite && b.Kind == KindWrite &&
		a.DB == b.DB && a.RP == b.RP && a.Org == b.Org && a.Precision == b.Precision &&
		a.Only == b.Only && a.Auth == b.Auth
}
