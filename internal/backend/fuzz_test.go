package backend

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzClassify checks that no answer makes classification panic, that the
// classes follow the status families of docs/delivery.md, and that a cut
// error body always comes out as InfluxDB's JSON error or untouched.
func FuzzClassify(f *testing.F) {
	f.Add(204, []byte(""), "")
	f.Add(400, []byte(`{"error":"partial write: field type conflict: input field \"v\" dropped=1"}`), "")
	f.Add(404, []byte(`{"error":"database not found: \"x\""}`), "")
	f.Add(500, []byte(`{"error":"retention policy not found: x"}`), "")
	f.Add(503, []byte(`{"error":"x"}`), "120")
	f.Add(429, []byte(""), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(413, []byte(`{"error":"Request Entity Too Large"}`), "-1")
	f.Fuzz(func(t *testing.T, status int, body []byte, retry string) {
		h := http.Header{}
		h.Set("Retry-After", retry)
		r := Classify(status, body, h, nil)
		switch {
		case status >= 200 && status < 300 && r.Class != Accepted:
			t.Fatalf("%d classified %v", status, r.Class)
		case status == 429 && r.Class != Transient:
			t.Fatalf("429 classified %v", r.Class)
		case status >= 500 && r.Class != Transient && r.Class != Mismatch:
			t.Fatalf("%d classified %v", status, r.Class)
		case status == 400 && r.Class != Rejected:
			t.Fatalf("400 classified %v", r.Class)
		}
		if r.RetryAfter < 0 || r.Reason == "" {
			t.Fatalf("result %+v", r)
		}
		_ = r.Message()
		if out := closeCutError(body); string(out) != string(body) {
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(out, &e); err != nil || e.Error == "" {
				t.Fatalf("closeCutError(%q) = %q, not a JSON error", body, out)
			}
		}
	})
}
