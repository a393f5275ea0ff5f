package lineproto

// Helpers to talk to a real influxd started by internal/testinflux.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// influxd is one running influxd in a temporary directory.
type influxd struct {
	url    string
	client *http.Client
}

// startInfluxd starts a real influxd of the given version ("1.6" for
// Debian's 1.6.7, "1.8" for 1.8.10) with the shared test harness; it stops
// when the test ends.
func startInfluxd(t *testing.T, version string) *influxd {
	t.Helper()
	v := testinflux.V167
	if version == "1.8" {
		v = testinflux.V1810
	}
	s := testinflux.Start(t, testinflux.Options{Version: v})
	return &influxd{url: s.URL(), client: &http.Client{Timeout: 30 * time.Second}}
}

func (db *influxd) query(t *testing.T, database, q string) []byte {
	t.Helper()
	form := url.Values{"q": {q}, "epoch": {"ns"}}
	if database != "" {
		form.Set("db", database)
	}
	resp, err := db.client.PostForm(db.url+"/query", form)
	if err != nil {
		t.Fatalf("query %q: %v", q, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("query %q: %s %s", q, resp.Status, body)
	}
	return body
}

// write posts body to path ("/write" or "/api/v2/write") with the given
// query parameters and returns the status and the error message, if any.
func (db *influxd) write(t *testing.T, path string, params url.Values, body []byte) (int, string) {
	t.Helper()
	resp, err := db.client.Post(db.url+path+"?"+params.Encode(), "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("write answer %s is not JSON: %q", resp.Status, raw)
		}
	}
	return resp.StatusCode, e.Error
}

// times returns the time of every point in database (all measurements),
// keyed by measurement and the value of column col (or "" if col is empty),
// as nanoseconds.
func (db *influxd) times(t *testing.T, database, col string) map[string][]int64 {
	t.Helper()
	raw := db.query(t, database, `SELECT * FROM /.*/`)
	var r struct {
		Results []struct {
			Error  string
			Series []struct {
				Name    string
				Columns []string
				Values  [][]any
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	out := map[string][]int64{}
	for _, res := range r.Results {
		if res.Error != "" {
			t.Fatalf("query error: %s", res.Error)
		}
		for _, s := range res.Series {
			ci := -1
			for i, c := range s.Columns {
				if c == col {
					ci = i
				}
			}
			for _, v := range s.Values {
				ts, err := strconv.ParseInt(fmt.Sprint(v[0]), 10, 64)
				if err != nil {
					t.Fatalf("time %q: %v", v[0], err)
				}
				k := s.Name
				if ci >= 0 {
					k += "/" + fmt.Sprint(v[ci])
				}
				out[k] = append(out[k], ts)
			}
		}
	}
	return out
}
