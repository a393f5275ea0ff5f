package replica

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// A replica whose data directory was lost is restored point for point,
// with every field's type, and verify says so before and after.
func TestResyncRestoresWipedBackend(t *testing.T) {
	eachVersion(t, func(t *testing.T, v testinflux.Version) {
		a := testinflux.Start(t, testinflux.Options{Version: v})
		b := testinflux.Start(t, testinflux.Options{Version: v})
		seed(t, a)
		seed(t, b)
		samePoints(t, a, b)
		b.Wipe(t)
		b.Restart(t)

		ctx := context.Background()
		ba, bb := backendOf(t, a, "a"), backendOf(t, b, "b")
		rep, err := Verify(ctx, VerifyOptions{Backends: []*Backend{ba, bb}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Agree() || !hasDiff(rep.Differences, KindDatabase, "db", "", "") {
			t.Fatalf("verify before the resync: want db missing on b, have %+v", rep.Differences)
		}

		var out strings.Builder
		rec := &recorder{}
		res, err := Resync(ctx, ResyncOptions{Source: ba, Target: bb, Out: &out, Progress: rec,
			StatePath: t.TempDir() + "/state.json", Recheck: 50 * time.Millisecond, BatchSize: 100})
		if err != nil {
			t.Fatalf("resync: %v\n%s", err, out.String())
		}
		t.Logf("resync output:\n%s", out.String())
		if !res.Agreed() || res.Copied == 0 || res.Points != rec.points {
			t.Fatalf("resync result %+v, progress saw %d points", res, rec.points)
		}
		samePoints(t, a, b)
		rps := b.Query(t, "", `SHOW RETENTION POLICIES ON "db"; SHOW RETENTION POLICIES ON "other"`)
		for _, want := range []string{`["autogen","0s","168h0m0s",1,true]`, `["week","168h0m0s","24h0m0s",1,false]`, `[["month","720h0m0s","2h0m0s",1,true]]`} {
			if !strings.Contains(string(rps.Body), want) {
				t.Errorf("retention policies on the target: want %s in %s", want, rps.Body)
			}
		}
		rep, err = Verify(ctx, VerifyOptions{Backends: []*Backend{ba, bb}})
		if err != nil || !rep.Agree() {
			t.Fatalf("verify after the resync: %v %+v", err, rep)
		}
		if rep.Buckets == 0 || rep.Measurements != 6 {
			t.Errorf("verify compared %d measurements and %d buckets; want 6 and more than 0", rep.Measurements, rep.Buckets)
		}

		// A second run finds nothing to copy.
		res, err = Resync(ctx, ResyncOptions{Source: ba, Target: bb, Recheck: 50 * time.Millisecond})
		if err != nil || res.Copied != 0 || res.Equal == 0 || len(res.Schema) != 0 {
			t.Fatalf("second resync: %v %+v", err, res)
		}
	})
}

func hasDiff(diffs []Difference, kind, db, rp, m string) bool {
	for _, d := range diffs {
		if d.Kind == kind && d.Database == db && d.RetentionPolicy == rp && d.Measurement == m {
			return true
		}
	}
	return false
}
