package record

import (
	"bytes"
	"errors"
	"testing"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	cases := []Record{
		{Kind: KindWrite, Received: 1700000000123456789, DB: "telegraf", Precision: 3, Lines: 2, Body: []byte("cpu v=1 1\ncpu v=2 2\n")},
		{Kind: KindWrite, Received: -5, DB: "d", RP: "autogen", Org: "o", Only: "b2", Flags: FlagOpenEnd,
			Auth: Auth{Header: "Token abc", Username: "u", Password: "p\x00w"}, Body: nil},
		{Kind: KindQuery, Received: 1, DB: "db", Params: "params=%7B%7D", Body: []byte("CREATE DATABASE x")},
	}
	for _, want := range cases {
		enc := want.AppendEncode(nil)
		if len(enc) > want.EncodedSize() {
			t.Errorf("EncodedSize %d < actual %d", want.EncodedSize(), len(enc))
		}
		if exact := want.Encode(); !bytes.Equal(exact, enc) {
			t.Errorf("Encode = %q, AppendEncode %q", exact, enc)
		}
		got, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if !bytes.Equal(got.Body, want.Body) {
			t.Errorf("body = %q, want %q", got.Body, want.Body)
		}
		got.Body, want.Body = nil, nil
		if !equalHeaders(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	r := Record{Kind: KindWrite, DB: "telegraf", RP: "rp", Body: []byte("cpu v=1\n")}
	enc := r.AppendEncode(nil)
	// Every strict prefix that cuts into the header must fail, never panic.
	hdr := len(enc) - len(r.Body)
	for i := 0; i < hdr; i++ {
		if _, err := Decode(enc[:i]); err == nil {
			t.Errorf("Decode(prefix %d) succeeded", i)
		}
	}
	bad := append([]byte{}, enc...)
	bad[0] = 99
	if _, err := Decode(bad); err == nil {
		t.Error("unknown version accepted")
	}
	bad = append([]byte{}, enc...)
	bad[1] = 7
	if _, err := Decode(bad); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := Decode(nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Decode(nil) = %v, want ErrCorrupt", err)
	}
}

func TestSameBatch(t *testing.T) {
	base := Record{Kind: KindWrite, DB: "a", RP: "r", Precision: 0}
	other := base
	if !SameBatch(&base, &other) {
		t.Fatal("identical records not batchable")
	}
	for name, mut := range map[string]func(*Record){
		"db":    func(r *Record) { r.DB = "b" },
		"rp":    func(r *Record) { r.RP = "" },
		"org":   func(r *Record) { r.Org = "o" },
		"prec":  func(r *Record) { r.Precision = 3 },
		"auth":  func(r *Record) { r.Auth.Username = "x" },
		"only":  func(r *Record) { r.Only = "b1" },
		"query": func(r *Record) { r.Kind = KindQuery },
	} {
		o := base
		mut(&o)
		if SameBatch(&base, &o) {
			t.Errorf("%s differs but SameBatch is true", name)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add((&Record{Kind: KindWrite, DB: "db", Body: []byte("m v=1\n")}).AppendEncode(nil))
	f.Add((&Record{Kind: KindQuery, Auth: Auth{Header: "Basic x"}, Body: []byte("DROP DATABASE x")}).AppendEncode(nil))
	f.Add([]byte{1, 1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			return
		}
		// A record that decodes re-encodes to the same bytes when its
		// varints were minimal; at least it must decode again identically.
		again, err := Decode(r.AppendEncode(nil))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !bytes.Equal(again.Body, r.Body) || again.DB != r.DB || again.Auth != r.Auth || again.Received != r.Received {
			t.Fatalf("round trip changed the record: %+v vs %+v", again, r)
		}
	})
}

func equalHeaders(a, b Record) bool {
	return a.Kind == b.Kind && a.Received == b.Received && a.DB == b.DB && a.RP == b.RP &&
		a.Org == b.Org && a.Precision == b.Precision && a.Flags == b.Flags && a.Lines == b.Lines && a.Only == b.Only &&
		a.Auth == b.Auth && a.Params == b.Params
}

// FlagGatewayAuthorized survives the log; a statement record as written
// before the flag existed (flags byte 0) decodes without it, which means
// "the client's own credentials only" on replay.
func TestGatewayFlagIsDurableAndAbsentInOldRecords(t *testing.T) {
	r := Record{Kind: KindQuery, Flags: FlagGatewayAuthorized, Body: []byte("CREATE DATABASE x")}
	got, err := Decode(r.AppendEncode(nil))
	if err != nil || got.Flags&FlagGatewayAuthorized == 0 || got.Flags&FlagOpenEnd != 0 {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
	// version 1, KindQuery, precision 0, flags 0, received 2 (zigzag 4),
	// lines 0, eight empty strings, then the statement.
	old := append([]byte{1, 2, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "CREATE USER evil WITH PASSWORD 'x' WITH ALL PRIVILEGES"...)
	got, err = Decode(old)
	if err != nil || got.Kind != KindQuery || got.Received != 2 || got.Flags&FlagGatewayAuthorized != 0 || !got.Auth.IsZero() {
		t.Fatalf("old record = %+v, %v", got, err)
	}
}

// TestEncodeAllocatesOnlyTheResult pins down the shape Encode relies on:
// a large record's buffer is allocated without being zeroed first, which
// the runtime does only for an append that grows a full slice. The test
// checks what AllocsPerRun can see: one allocation for the header and one
// for the result, with no more spare room than size-class rounding.
func TestEncodeAllocatesOnlyTheResult(t *testing.T) {
	r := Record{Kind: KindWrite, DB: "db", Body: bytes.Repeat([]byte("cpu v=1 1\n"), 50000)}
	var enc []byte
	if n := testing.AllocsPerRun(20, func() { enc = r.Encode() }); n != 2 {
		t.Errorf("Encode made %v allocations, want 2 (header, result)", n)
	}
	if cap(enc)-len(enc) > 8192 {
		t.Errorf("Encode's result has %d spare bytes", cap(enc)-len(enc))
	}
}
