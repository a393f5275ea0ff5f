package e2e

import (
	"net/http"
	"testing"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// influxd joins the errors of several bad lines with a newline: the JSON
// body keeps it (as \n), and Go's HTTP server turns it into a space in
// X-Influxdb-Error. influxgate answers byte for byte the same, in front of
// 1.6.7 and 1.8.10. Every line carries a timestamp, so the texts do not
// depend on how influxgate stamps lines without one.
func TestMultiLineWriteErrorsAreInfluxDBs(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, body string }{
		{"two bad lines", "bad1 v= 1700000000000000000\nbad2 v=1x 1700000000000000001\n"},
		{"a good line and two bad", "good v=1 1700000000000000000\nbad1 v= 1700000000000000001\nbad2 v=1x 1700000000000000002\n"},
		{"bad lines with CRLF", "bad1 v= 1700000000000000000\r\nbad2 v=1 1700000000000000001\r\n"},
	}
	for _, v := range []testinflux.Version{testinflux.V167, testinflux.V1810} {
		t.Run(string(v), func(t *testing.T) {
			t.Parallel()
			db := testinflux.Start(t, testinflux.Options{Version: v})
			db.CreateDatabase(t, "db")
			g := startGate(t, newConfig(t, db))
			for _, c := range cases {
				direct := do(t, http.MethodPost, db.URL()+"/write?db=db", c.body)
				via := g.write(t, "db=db", c.body)
				if direct.Status != http.StatusBadRequest {
					t.Fatalf("%s: influxd %s answered %d %s, want 400", c.name, v, direct.Status, direct.Body)
				}
				for _, h := range []string{"X-Influxdb-Error", "Content-Type"} {
					if got, want := via.Header.Get(h), direct.Header.Get(h); got != want {
						t.Errorf("%s: %s\ninfluxgate: %q\ninfluxd:    %q", c.name, h, got, want)
					}
				}
				if via.Status != direct.Status || via.Body != direct.Body {
					t.Errorf("%s: influxgate answered %d %q\ninfluxd %s answered %d %q", c.name, via.Status, via.Body, v, direct.Status, direct.Body)
				}
			}
		})
	}
}
