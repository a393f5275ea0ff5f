package shard

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
)

// fakeReplicas is a shard's replica set that takes every append and
// answers with the answer it was given.
type fakeReplicas struct {
	mu      sync.Mutex
	records []record.Record
	answer  relay.Answer
	notOK   error
}

func (f *fakeReplicas) Append(rec *record.Record) (relay.Ticket, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := *rec
	c.Body = append([]byte(nil), rec.Body...)
	f.records = append(f.records, c)
	return relay.Ticket{}, nil
}

func (f *fakeReplicas) Await(context.Context, relay.Ticket, relay.Consistency) relay.Answer {
	if f.answer.Status == 0 {
		return relay.Answer{Status: http.StatusNoContent}
	}
	return f.answer
}

func (f *fakeReplicas) Ready() error { return f.notOK }

func testSet(t *testing.T, shardKey string, names ...string) (*Set, map[string]*fakeReplicas) {
	t.Helper()
	fakes := map[string]*fakeReplicas{}
	var shards []*Shard
	for _, n := range names {
		fakes[n] = &fakeReplicas{}
		shards = append(shards, &Shard{Name: n, Replicas: fakes[n]})
	}
	s, err := NewSet(shardKey, shards, NewRoute(NewPlacement(names)))
	if err != nil {
		t.Fatal(err)
	}
	return s, fakes
}

func lines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestSplitPutsEveryLineOnItsOwnerOnce(t *testing.T) {
	for _, shardKey := range []string{"measurement", "tag:customer"} {
		t.Run(shardKey, func(t *testing.T) {
			s, fakes := testSet(t, shardKey, "s1", "s2", "s3")
			var body strings.Builder
			var want []string
			for i := 0; i < 300; i++ {
				l := fmt.Sprintf("m%d,customer=c%d,host=h v=%d %d", i%17, i%23, i, 1000+i)
				if i%50 == 0 {
					l = fmt.Sprintf("m%d,host=h v=%d %d", i%17, i, 1000+i) // no customer tag
				}
				want = append(want, l)
				body.WriteString(l + "\n")
				if i%100 == 0 {
					body.WriteString("# a comment\n\n")
				}
			}
			rec := record.Record{Kind: record.KindWrite, DB: "db", Lines: 300, Body: []byte(body.String())}
			if a := s.Write(context.Background(), &rec, relay.Any); a.Status != http.StatusNoContent {
				t.Fatalf("answer %d %s", a.Status, a.Body)
			}
			var got []string
			for name, f := range fakes {
				if len(f.records) != 1 {
					t.Fatalf("shard %s got %d records, want 1", name, len(f.records))
				}
				r := f.records[0]
				ls := lines(r.Body)
				if int(r.Lines) != len(ls) {
					t.Errorf("shard %s: Lines = %d for %d lines", name, r.Lines, len(ls))
				}
				// Within a part, lines keep the order they came in.
				if !slices.IsSortedFunc(ls, func(a, b string) int {
					return strings.Compare(a[strings.LastIndex(a, " "):], b[strings.LastIndex(b, " "):])
				}) {
					t.Errorf("shard %s: lines out of order", name)
				}
				for _, l := range ls {
					m, tv, _ := strings.Cut(l, ",")
					tag := ""
					if shardKey != "measurement" {
						if _, after, ok := strings.Cut(tv, "customer="); ok {
							tag, _, _ = strings.Cut(after, ",")
						}
					}
					if owner := s.Route().ReadOwner(s.Key("db", m, tag)); owner != name {
						t.Errorf("line %q on %s, owner %s", l, name, owner)
					}
				}
				got = append(got, ls...)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("split lost or doubled lines: %d lines across shards, want %d", len(got), len(want))
			}
		})
	}
}

func TestSplitDoesNotCopyAWriteForOneShard(t *testing.T) {
	s, _ := testSet(t, "measurement", "s1", "s2")
	rec := record.Record{Kind: record.KindWrite, DB: "db", Lines: 3,
		Body: []byte("cpu v=1 1\ncpu v=2 2\ncpu,host=x v=3 3\n")}
	parts, err := s.Split(&rec)
	if err != nil || len(parts) != 1 {
		t.Fatalf("%d parts, %v", len(parts), err)
	}
	if &parts[0].Rec.Body[0] != &rec.Body[0] {
		t.Error("a write for one shard was copied")
	}
}

// Split builds each shard's part as its log encoding, header and body in
// one buffer, so that the log appends it without another copy: the
// encoding must be exactly what Encode gives, flags and count included.
func TestSplitEncodesEachPartAsEncodeWould(t *testing.T) {
	s, _ := testSet(t, "measurement", "s1", "s2", "s3")
	var body strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&body, "m%d,host=h v=%d %d\n", i%7, i, 1000+i)
	}
	body.WriteString("m3 v=1") // runs on into the next chunk of a streamed body
	rec := record.Record{Kind: record.KindWrite, DB: "db", RP: "rp", Precision: 's', Received: 42,
		Flags: record.FlagOpenEnd, Lines: 41, Auth: record.Auth{Username: "u", Password: "p"},
		Body: []byte(body.String())}
	parts, err := s.Split(&rec)
	if err != nil || len(parts) < 2 {
		t.Fatalf("%d parts, %v; want one per shard", len(parts), err)
	}
	lines, openEnds := 0, 0
	for _, p := range parts {
		if !bytes.Equal(p.encoded, p.Rec.Encode()) {
			t.Errorf("shard %s: part encoded in place differs from its Encode", p.Shard.Name)
		}
		d, err := record.Decode(p.encoded)
		if err != nil {
			t.Fatalf("shard %s: %v", p.Shard.Name, err)
		}
		if !bytes.Equal(d.Body, p.Rec.Body) || d.Lines != p.Rec.Lines || d.DB != "db" || d.Auth.Username != "u" {
			t.Errorf("shard %s: decoded %+v, want %+v", p.Shard.Name, d, p.Rec)
		}
		lines += int(p.Rec.Lines)
		if p.Rec.Flags&record.FlagOpenEnd != 0 {
			openEnds++
			if !bytes.HasSuffix(p.Rec.Body, []byte("m3 v=1\n")) {
				t.Errorf("shard %s is marked open-ended but does not end with the open line", p.Shard.Name)
			}
		}
	}
	if lines != 41 || openEnds != 1 {
		t.Errorf("parts hold %d lines with %d open ends; want 41 and 1", lines, openEnds)
	}

	one := record.Record{Kind: record.KindWrite, DB: "db", Lines: 1, Body: []byte("m1 v=1 1\n")}
	parts, _ = s.Split(&one)
	if len(parts) != 1 || parts[0].encoded != nil {
		t.Error("a write for one shard has an encoding built by Split; the log must encode the client's record")
	}
}

// While a rebalance moves a key, its lines go to its old owner (which
// serves its reads) and its new owner; once the move is done, to the new
// owner only.
func TestSplitWritesMovingKeysToBothOwners(t *testing.T) {
	from := NewPlacement([]string{"s1", "s2"})
	to := NewPlacement([]string{"s1", "s2", "s3"})
	var moving string
	for i := 0; moving == ""; i++ {
		m := fmt.Sprintf("m%d", i)
		if k := AppendKey(nil, "db", []byte(m), nil, false); to.Owner(k) == "s3" {
			moving = m
		}
	}
	key := AppendKey(nil, "db", []byte(moving), nil, false)
	old := from.Owner(key)
	fakes := map[string]*fakeReplicas{"s1": {}, "s2": {}, "s3": {}}
	shards := []*Shard{{Name: "s1", Replicas: fakes["s1"]}, {Name: "s2", Replicas: fakes["s2"]}, {Name: "s3", Replicas: fakes["s3"]}}
	s, err := NewSet("measurement", shards, NewMoveRoute(from, to, map[string]bool{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Route().ReadOwner(key); r != old {
		t.Errorf("reads of a moving key go to %s, want its old owner %s", r, old)
	}
	rec := record.Record{Kind: record.KindWrite, DB: "db", Lines: 1, Body: []byte(moving + " v=1 1\n")}
	s.Write(context.Background(), &rec, relay.Any)
	if len(fakes[old].records) != 1 || len(fakes["s3"].records) != 1 {
		t.Fatalf("moving key written to %s %d times and to s3 %d times; want once each",
			old, len(fakes[old].records), len(fakes["s3"].records))
	}
	if !s.Route().Strays("s3", key) || s.Route().Strays(old, key) {
		t.Error("while the move runs, s3 holds stray points of the key and its old owner none")
	}

	s.SetRoute(NewMoveRoute(from, to, map[string]bool{string(key): true}, nil))
	s.Write(context.Background(), &rec, relay.Any)
	if len(fakes[old].records) != 1 || len(fakes["s3"].records) != 2 {
		t.Errorf("after the move, writes still reach the old owner")
	}
	if r := s.Route().ReadOwner(key); r != "s3" {
		t.Errorf("after the move, reads go to %s", r)
	}
	if s.Route().Strays("s3", key) || !s.Route().Strays(old, key) {
		t.Error("after the move and before the old copy is deleted, the old owner holds stray points")
	}
}

func TestWriteRefusesWholeWhenAShardCannotTakeIt(t *testing.T) {
	s, fakes := testSet(t, "measurement", "s1", "s2")
	var body strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&body, "m%d v=1 1\n", i)
	}
	fakes["s2"].notOK = fmt.Errorf("backlog of backend %q is full", "b2")
	rec := record.Record{Kind: record.KindWrite, DB: "db", Lines: 50, Body: []byte(body.String())}
	a := s.Write(context.Background(), &rec, relay.Any)
	if a.Status != http.StatusServiceUnavailable || !strings.Contains(a.Message(), "shard s2") {
		t.Errorf("answer %d %q, want 503 naming shard s2", a.Status, a.Message())
	}
	if len(fakes["s1"].records)+len(fakes["s2"].records) != 0 {
		t.Error("part of a refused write was logged")
	}
}

func TestCombine(t *testing.T) {
	ok := relay.Answer{Status: 204}
	bad := func(msg string) relay.Answer { return relay.ErrorAnswer(400, "%s", msg) }
	cases := []struct {
		name    string
		answers []relay.Answer
		status  int
		msg     string
	}{
		{"all accepted", []relay.Answer{ok, ok}, 204, ""},
		{"one part bad, one accepted", []relay.Answer{ok, bad("unable to parse 'x': missing fields")},
			400, "partial write: unable to parse 'x': missing fields dropped=0"},
		{"two partial writes", []relay.Answer{bad("partial write: field type conflict: a dropped=2"),
			bad("partial write: points beyond retention policy dropped=1")},
			400, "partial write: field type conflict: a\npoints beyond retention policy dropped=3"},
		{"every part bad", []relay.Answer{bad("unable to parse 'a': bad"), bad("unable to parse 'b': bad")},
			400, "unable to parse 'a': bad\nunable to parse 'b': bad"},
		{"unknown database wins over bad data", []relay.Answer{bad("unable to parse 'a': bad"),
			relay.ErrorAnswer(404, `database not found: "x"`)}, 404, `database not found: "x"`},
		{"a part not taken", []relay.Answer{ok, relay.ErrorAnswer(503, "write log unavailable")}, 503, "write log unavailable"},
	}
	for _, c := range cases {
		a := Combine(c.answers)
		if a.Status != c.status || (c.msg != "" && a.Message() != c.msg) {
			t.Errorf("%s: %d %q, want %d %q", c.name, a.Status, a.Message(), c.status, c.msg)
		}
	}
}
