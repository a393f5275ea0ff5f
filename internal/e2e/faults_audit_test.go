package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// auditBackend is one backend as the audit sees it.
type auditBackend struct {
	name   string
	server *testinflux.Server
	proxy  *fakeFaultProxy // counts deliveries; nil without one
	// dropped is how many points influxgate counted as dropped for this
	// backend by its configured overflow policy: the only loss G1 allows.
	dropped uint64
}

// auditRow is the audit's finding for one backend.
type auditRow struct {
	name string
	// acked points (answered 2xx), of which delivered are stored on the
	// backend and missing are not (destroyedMissing of those were in log
	// records the test itself damaged on disk; they are not counted in missing).
	acked, delivered, missing, destroyedMissing int
	// duplicated: acknowledged points influxd accepted more than once
	// (at-least-once delivery after a crash or a lost answer; harmless).
	duplicated int
	// unackedStored: points never acknowledged (refused or unanswered) that
	// arrived anyway; allowed (a write may be stored before its answer is lost).
	unackedStored int
	// phantoms are stored points the load never sent; badValues points whose
	// value does not match their timestamp. Both must be 0.
	phantoms, badValues int
	dropped             uint64
}

// audit looks every point of the ledger up on every backend, prints the
// table, and fails the test on a missing acknowledged point that no
// counted policy explains, on stored points that were never sent or are
// damaged, and on replicas that differ in any other way. destroyed holds
// the sequence numbers of points in log records the test damaged.
func audit(t testing.TB, states []outcome, backends []auditBackend, destroyed map[int64]bool) []auditRow {
	t.Helper()
	stored := make([][]int64, len(backends))
	rows := make([]auditRow, len(backends))
	var sent, ackedTotal, refusedTotal, unansweredTotal int
	for _, o := range states {
		switch o {
		case acked:
			ackedTotal++
		case refused:
			refusedTotal++
		case unanswered:
			unansweredTotal++
		}
		if o != unsent {
			sent++
		}
	}
	for i, b := range backends {
		r := auditRow{name: b.name, dropped: b.dropped}
		stored[i], r.phantoms = storedLoad(t, b.server, states)
		var landed []uint16
		if b.proxy != nil {
			landed = b.proxy.landedCounts()
		}
		for seq, o := range states {
			v := stored[i][seq]
			ok := v != absent
			switch {
			case o == acked && ok:
				r.acked++
				r.delivered++
			case o == acked && destroyed[int64(seq)]:
				r.acked++
				r.destroyedMissing++
			case o == acked:
				r.acked++
				r.missing++
			case ok:
				r.unackedStored++
			}
			if o == acked && seq < len(landed) && landed[seq] > 1 {
				r.duplicated++
			}
			if ok && v != int64(seq) {
				r.badValues++
			}
		}
		rows[i] = r
	}

	var tb strings.Builder
	fmt.Fprintf(&tb, "audit: %d points sent, %d acknowledged (2xx), %d refused (non-2xx), %d unanswered; %d destroyed by injected log damage\n",
		sent, ackedTotal, refusedTotal, unansweredTotal, len(destroyed))
	tw := tabwriter.NewWriter(&tb, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\tacknowledged\tdelivered\tmissing\tduplicated\tlost to damage\tdropped by policy\tunacked stored\tphantom\tbad value\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", r.name, r.acked, r.delivered, r.missing,
			r.duplicated, r.destroyedMissing, r.dropped, r.unackedStored, r.phantoms, r.badValues)
	}
	tw.Flush()

	for i, r := range rows {
		if uint64(r.missing) > r.dropped {
			t.Errorf("backend %s misses %d acknowledged points; influxgate counted %d dropped by policy", r.name, r.missing, r.dropped)
		}
		if r.phantoms > 0 || r.badValues > 0 {
			t.Errorf("backend %s holds %d points never sent and %d with a wrong value", r.name, r.phantoms, r.badValues)
		}
		if i == 0 {
			continue
		}
		onlyFirst, onlyThis, differ := compareReplicas(stored[0], stored[i], destroyed)
		fmt.Fprintf(&tb, "replicas %s vs %s: %d points only on %s, %d only on %s, %d with different values (points in damaged records excepted)\n",
			backends[0].name, r.name, onlyFirst, backends[0].name, onlyThis, r.name, differ)
		if differ > 0 || uint64(onlyFirst) > r.dropped || uint64(onlyThis) > rows[0].dropped {
			t.Errorf("replicas %s and %s differ beyond what a counted policy explains", backends[0].name, r.name)
		}
	}
	t.Log("\n" + tb.String())
	return rows
}

// compareReplicas counts points on one replica only, and points whose
// values differ, leaving out points the test destroyed.
func compareReplicas(a, b []int64, destroyed map[int64]bool) (onlyA, onlyB, differ int) {
	for seq := range a {
		va, vb := a[seq], b[seq]
		switch {
		case destroyed[int64(seq)] || va == vb:
		case vb == absent:
			onlyA++
		case va == absent:
			onlyB++
		default:
			differ++
		}
	}
	return onlyA, onlyB, differ
}

// absent marks a point a backend does not hold.
const absent = int64(-1)

// storedLoad reads every load point a backend holds, straight from
// influxd, streaming the answer in chunks: the value of each point by
// sequence number (absent if missing), and how many stored points the load
// never sent (phantoms).
func storedLoad(t testing.TB, s *testinflux.Server, states []outcome) (vals []int64, phantoms int) {
	t.Helper()
	vals = make([]int64, len(states))
	for i := range vals {
		vals[i] = absent
	}
	q := url.Values{"db": {loadDB}, "q": {"SELECT v FROM " + loadMeasurement}, "epoch": {"ns"},
		"chunked": {"true"}, "chunk_size": {"50000"}}
	resp, err := http.Get(s.URL() + "/query?" + q.Encode())
	if err != nil {
		t.Fatalf("audit query on %s: %v", s.URL(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("audit query on %s: %d %s", s.URL(), resp.StatusCode, b)
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	for {
		var chunk struct {
			Error   string `json:"error"`
			Results []struct {
				Error  string `json:"error"`
				Series []struct {
					Values [][]json.Number `json:"values"`
				} `json:"series"`
			} `json:"results"`
		}
		if err := dec.Decode(&chunk); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("audit query on %s: %v", s.URL(), err)
		}
		if chunk.Error != "" {
			t.Fatalf("audit query on %s: %s", s.URL(), chunk.Error)
		}
		for _, r := range chunk.Results {
			if r.Error != "" {
				t.Fatalf("audit query on %s: %s", s.URL(), r.Error)
			}
			for _, sr := range r.Series {
				for _, row := range sr.Values {
					ts, err1 := row[0].Int64()
					v, err2 := row[1].Int64()
					if err1 != nil || err2 != nil {
						t.Fatalf("audit query on %s: bad row %v", s.URL(), row)
					}
					if seq := ts - loadBase; seq >= 0 && seq < int64(len(states)) && states[seq] != unsent {
						vals[seq] = v
					} else {
						phantoms++
					}
				}
			}
		}
	}
	return vals, phantoms
}
