package replica

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// Differences at every level are found and named: a retention policy and
// a measurement on one side only, points missing from one bucket, a value
// overwritten in another.
func TestVerifyNamesDifferences(t *testing.T) {
	a := testinflux.Start(t, testinflux.Options{})
	b := testinflux.Start(t, testinflux.Options{})
	seed(t, a)
	seed(t, b)
	ctx := context.Background()
	ba, bb := backendOf(t, a, "a"), backendOf(t, b, "b")
	rep, err := Verify(ctx, VerifyOptions{Backends: []*backend.Client{ba, bb}})
	if err != nil || !rep.Agree() {
		t.Fatalf("identical replicas: %v %+v", err, rep)
	}

	if err := b.Query(t, "db", `DELETE FROM "disk io,x" WHERE time >= `+itoa(ts(3, 0))+` AND time < `+itoa(ts(4, 0))).Err(); err != nil {
		t.Fatal(err)
	}
	b.Write(t, "db", "n", "mem,host=a used=999999i "+itoa(ts(7, 0))) // overwrites a point
	b.Exec(t, `CREATE RETENTION POLICY "extra" ON "db" DURATION 1d REPLICATION 1`)
	b.Write(t, "db", "n", "only_b v=1 "+itoa(ts(1, 0)))
	a.Write(t, "db", "n", "events,kind=x id=1i "+itoa(ts(2, 0))) // b has events in "week" only
	a.Write(t, "db", "n", "typed v=1i "+itoa(ts(2, 0)))
	b.Write(t, "db", "n", "typed v=1 "+itoa(ts(2, 0)))
	rep, err = Verify(ctx, VerifyOptions{Backends: []*backend.Client{ba, bb}, Recheck: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind, rp, m string
		bucket      time.Time
		detail      string
	}{
		{KindRetentionPolicy, "extra", "", time.Time{}, "missing on a"},
		{KindMeasurement, "", "only_b", time.Time{}, "missing on a"},
		{KindMeasurement, "autogen", "events", time.Time{}, "no data in this retention policy on b"},
		{KindFields, "autogen", "typed", time.Time{}, "v: a=integer b=float"},
		{KindData, "autogen", "disk io,x", dataBase.Add(3 * time.Hour), "count_busy: a=6 b=-"},
		{KindData, "autogen", "mem", dataBase.Add(7 * time.Hour), "sum_used"},
	}
	for _, w := range want {
		found := false
		for _, d := range rep.Differences {
			if d.Kind == w.kind && d.Database == "db" && d.RetentionPolicy == w.rp && d.Measurement == w.m &&
				d.Bucket.Equal(w.bucket) && strings.Contains(d.Detail, w.detail) {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s difference for %s.%s at %v with %q in %+v", w.kind, w.rp, w.m, w.bucket, w.detail, rep.Differences)
		}
	}
	for _, d := range rep.Differences {
		if d.Kind == KindData && d.Measurement != "mem" && d.Measurement != "disk io,x" {
			t.Errorf("unexpected difference %+v", d)
		}
	}
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	row := "data  db  autogen  mem  " + dataBase.Add(7*time.Hour).UTC().Format(time.RFC3339)
	if !strings.Contains(squeeze(table.String()), row) {
		t.Errorf("table lacks %q:\n%s", row, table.String())
	}

	// -start and -end narrow the data compared; -db the databases.
	rep, err = Verify(ctx, VerifyOptions{Backends: []*backend.Client{ba, bb}, Database: "other"})
	if err != nil || !rep.Agree() {
		t.Errorf("-db other: %v %+v", err, rep)
	}
	rep, err = Verify(ctx, VerifyOptions{Backends: []*backend.Client{ba, bb}, Start: dataBase.Add(8 * time.Hour), End: dataBase.Add(20 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.Differences {
		if d.Kind == KindData {
			t.Errorf("difference outside -start/-end reported: %+v", d)
		}
	}
	if _, err := Verify(ctx, VerifyOptions{Backends: []*backend.Client{ba, bb}, Database: "nope"}); err == nil {
		t.Error("verify of a database that exists nowhere did not fail")
	}
}

// A float sum that overflows to +Inf cannot be printed by influxd (1.6.7
// answers with a body that is not JSON, 1.8.10 with a JSON error): such a
// window is compared without sums, and counts, minima and maxima still
// tell a difference.
func TestVerifyOverflowingSum(t *testing.T) {
	eachVersion(t, func(t *testing.T, v testinflux.Version) {
		a := testinflux.Start(t, testinflux.Options{Version: v})
		b := testinflux.Start(t, testinflux.Options{Version: v})
		at := dataBase.UnixNano()
		for _, s := range []*testinflux.Server{a, b} {
			s.CreateDatabase(t, "db")
			s.Write(t, "db", "n", fmt.Sprintf("big f=1.7976931348623157e+308 %d\nbig f=1.7976931348623157e+308 %d", at, at+1))
		}
		o := VerifyOptions{Backends: []*backend.Client{backendOf(t, a, "a"), backendOf(t, b, "b")}}
		rep, err := Verify(context.Background(), o)
		if err != nil || !rep.Agree() || rep.Buckets != 1 {
			t.Fatalf("identical replicas: %v %+v", err, rep)
		}
		b.Write(t, "db", "n", fmt.Sprintf("big f=1 %d", at+2))
		rep, err = Verify(context.Background(), o)
		if err != nil || len(rep.Differences) != 1 || !strings.Contains(rep.Differences[0].Detail, "count_f: a=2 b=3") {
			t.Fatalf("a point more on b: %v %+v", err, rep)
		}
	})
}

// A backend that is down makes Verify fail with a message naming it.
func TestVerifyBackendDown(t *testing.T) {
	a := testinflux.Start(t, testinflux.Options{})
	b := testinflux.Start(t, testinflux.Options{})
	seed(t, a)
	b.Stop(t)
	_, err := Verify(context.Background(), VerifyOptions{Backends: []*backend.Client{backendOf(t, a, "a"), backendOf(t, b, "b")},
		Requests: quick})
	var be *backend.Error
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "backend b (http://"+b.Addr()+")") ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("want an error naming b and the refused connection, have %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// squeeze collapses runs of spaces to two, as tabwriter pads columns.
func squeeze(s string) string {
	for strings.Contains(s, "   ") {
		s = strings.ReplaceAll(s, "   ", "  ")
	}
	return s
}
