package backfill

import (
	"path/filepath"
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
	path := filepath.Join(t.TempDir(), "backfill", "b.json")
	if err := p.Save(path); err != nil {
		t.Fatal(err)
	}
	q, err := LoadPending(path)
	if err != nil || !reflect.DeepEqual(q.Spec(), want) {
		t.Fatalf("after Save and LoadPending: %+v, %v", q.Spec(), err)
	}
	p.Reset()
	if err := p.Save(path); err != nil {
		t.Fatal(err)
	}
	if q, _ := LoadPending(path); !q.Empty() {
		t.Error("an empty accumulator was not saved as empty")
	}
}
