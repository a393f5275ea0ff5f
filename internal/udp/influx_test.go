package udp

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// precisions are the [[udp]] precisions, each tested against real influxd
// UDP listeners configured with the same precision.
var precisions = []string{"n", "u", "ms", "s", "m", "h"}

// startUDPInflux starts an influxd with one UDP listener per precision,
// each writing to database "udp_<precision>", and returns it with the
// listeners' addresses.
func startUDPInflux(t *testing.T, v testinflux.Version) (*testinflux.Server, map[string]string) {
	t.Helper()
	addrs := map[string]string{}
	var extra strings.Builder
	for _, p := range precisions[1:] {
		port := testinflux.FreeUDPPort(t)
		addrs[p] = fmt.Sprintf("127.0.0.1:%d", port)
		fmt.Fprintf(&extra, "[[udp]]\nenabled = true\nbind-address = %q\ndatabase = \"udp_%s\"\nprecision = %q\nbatch-timeout = \"10ms\"\n",
			addrs[p], p, p)
	}
	s := testinflux.Start(t, testinflux.Options{Version: v,
		UDP:         &testinflux.UDPOptions{Database: "udp_n", Precision: "n"},
		ExtraConfig: extra.String()})
	addrs["n"] = s.UDPAddr()
	return s, addrs
}

// TestPointsArriveOnEveryBackendWithIdenticalTimestamps sends lines with
// and without timestamps to influxgate in every precision and checks that
// two real influxd, fed by UDP, store exactly the same points, with the
// missing timestamps set by influxgate at receipt.
func TestPointsArriveOnEveryBackendWithIdenticalTimestamps(t *testing.T) {
	a, aAddrs := startUDPInflux(t, testinflux.V167)
	b, bAddrs := startUDPInflux(t, testinflux.V1810)
	for _, p := range precisions {
		t.Run(p, func(t *testing.T) {
			c := config.Config{UDP: []config.UDPConfig{{Name: "udp-" + p, BindAddr: "127.0.0.1:0", Precision: p,
				Outputs: []config.OutputConfig{{Location: config.Location(aAddrs[p]), MTU: 300}, {Location: config.Location(bAddrs[p]), MTU: 1400}}}}}
			c.ApplyDefaults()
			l := startListener(t, Options{Config: c.UDP[0]})
			conn := sender(t, l)
			prec, _ := lineproto.ParsePrecisionV1(p)

			// Every line is its own series, so that lines stamped with the
			// same time (all of them, in precision h) do not overwrite each
			// other. Every fourth line has its own timestamp, long ago.
			unit := int64(prec.Duration())
			before := prec.Timestamp(time.Now()) * unit
			old := func(i int) int64 { return before/unit - 1000 - int64(i) }
			n := 0
			for pkt := range 10 {
				var body strings.Builder
				for i := range 20 {
					fmt.Fprintf(&body, "m,i=%d,pkt=%d v=%d,s=\"x\"", i, pkt, n)
					if i%4 == 0 {
						fmt.Fprintf(&body, " %d", old(i))
					}
					body.WriteString("\n")
					n++
				}
				body.WriteString("bad line\n")
				send(t, conn, body.String())
			}
			db := "udp_" + p
			a.WaitCount(t, db, "m", n, 20*time.Second)
			b.WaitCount(t, db, "m", n, 20*time.Second)
			after := prec.Timestamp(time.Now()) * unit

			pa, pb := a.Points(t, db), b.Points(t, db)
			if !slices.Equal(pa, pb) {
				t.Fatalf("backends differ:\n%s\n%s", strings.Join(pa[:3], "\n"), strings.Join(pb[:3], "\n"))
			}
			for _, pt := range pa {
				var i, pkt, v int
				var ts int64
				if _, err := fmt.Sscanf(pt, "m,i=%d,pkt=%d s=\"x\",v=%d %d", &i, &pkt, &v, &ts); err != nil {
					t.Fatalf("point %q: %v", pt, err)
				}
				if i%4 == 0 {
					if want := old(i) * unit; ts != want {
						t.Errorf("%s: want the time sent, %d", pt, want)
					}
				} else if ts < before || ts > after || ts%unit != 0 {
					t.Errorf("%s: want influxgate's receipt time in %s, between %d and %d", pt, prec, before, after)
				}
			}
			if st := l.Stats(); st.Dropped[ReasonMalformed] != 10 || st.Stamped != uint64(n*3/4) {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}
