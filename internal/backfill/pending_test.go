package backfill

import (
	"reflect"
	"testing"

	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/record"
)

func TestPendingAccumulatesPerDatabaseAndPolicy(t *testing.T) {
	p := NewPending()
	p.AddWrite(&record.Record{DB: "db", Precision: uint8(lineproto.Second), Body: []byte("m v=1 100\nm v=2 40\n")})
	p.AddWrite(&record.Record{DB: "db", Precision: uint8(lineproto.Nanosecond), Body: []byte("m v=1 500000000000\n")})
	p.AddWrite(&record.Record{DB: "db", RP: "week", Body: []byte("m v=1 7\n")})
	p.AddWrite(&record.Record{DB: "db", Body: []byte("# nothing with a time\n")})
	p.AddStatement(&record.Record{Kind: record.KindQuery, Received: 99,
		Body: []byte(`CREATE DATABASE x; CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) INTO y FROM m GROUP BY time(1m) END`)})
	want := Spec{
		Ranges:  []Range{{DB: "db", From: 40e9, To: 500e9}, {DB: "db", RP: "week", From: 7, To: 7}},
		Created: []CQRef{{DB: "db", Name: "c", At: 99}},
	}
	if got := p.Spec(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Spec = %+v, want %+v", got, want)
	}
	data, changed := p.Changed()
	if !changed || data == nil {
		t.Fatalf("Changed = %q, %v after additions", data, changed)
	}
	if _, again := p.Changed(); again {
		t.Error("Changed reports a change twice")
	}
	q := NewPending()
	if err := q.Restore(data); err != nil || !reflect.DeepEqual(q.Spec(), want) {
		t.Fatalf("after Changed and Restore: %+v, %v", q.Spec(), err)
	}
	if _, changed := q.Changed(); changed {
		t.Error("a restored accumulator reports a change: it is what is stored")
	}
	p.Touch() // a store that failed
	if d, changed := p.Changed(); !changed || string(d) != string(data) {
		t.Error("after Touch, Changed does not return the accumulator again")
	}
	p.Reset()
	if d, changed := p.Changed(); !changed || d != nil {
		t.Errorf("an emptied accumulator: Changed = %q, %v; want nil, true (delete what is stored)", d, changed)
	}
	if err := q.Restore(nil); err != nil || !q.Empty() {
		t.Error("Restore(nil) does not empty the accumulator")
	}
}
