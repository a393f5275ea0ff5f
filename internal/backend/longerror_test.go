package backend

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/influxgate/influxgate/internal/config"
)

// InfluxDB quotes every line it cannot parse in its error, so an error body
// can be far larger than the part influxgate keeps. What reaches the client
// must still be InfluxDB's JSON error shape, cut short, not cut JSON.
func TestLongErrorBodyStaysJSON(t *testing.T) {
	for _, tail := range []string{"", `\u0000`, `\\`, `\"`, "é"} {
		msg := "unable to parse '" + strings.Repeat("x"+tail, 2*maxResponseBody/(1+len(tail))) + "': missing fields"
		body, _ := json.Marshal(map[string]string{"error": msg})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write(body)
		}))
		c, err := New(config.OutputConfig{Name: "a", Location: config.Location(srv.URL + "/write")})
		if err != nil {
			t.Fatal(err)
		}
		res := c.Write(context.Background(), &Batch{DB: "db", Bodies: [][]byte{[]byte("x")}})
		srv.Close()
		if res.Class != Rejected || res.Reason != "bad_lines" {
			t.Errorf("tail %q: class %v reason %q", tail, res.Class, res.Reason)
		}
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(res.Body, &e); err != nil || !strings.HasPrefix(e.Error, "unable to parse 'x") {
			t.Errorf("tail %q: body is not InfluxDB's JSON error (%v): %.80q…", tail, err, res.Body)
		}
		if len(res.Body) > maxResponseBody+64 {
			t.Errorf("tail %q: %d bytes kept, want about %d", tail, len(res.Body), maxResponseBody)
		}
	}
}
