package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
)

// /debug/vars has InfluxDB's shape, as Telegraf's inputs.influxdb reads it:
// a JSON object whose "system", "memstats" and "cmdline" have the types
// influxd gives them, and whose other entries are statistics with a name,
// tags and non-empty values. It carries influxgate's counters and no
// secret from the config.
func TestDebugVarsShape(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP = []config.HTTPConfig{{Name: "main", BindAddr: "127.0.0.1:0",
		Outputs: []config.OutputConfig{
			{Name: "a", Location: "http://admin:hunter2@127.0.0.1:1/write?u=admin&p=hunter2"},
			{Name: "b", Location: "http://127.0.0.1:1/write", Token: "tok-hunter2"},
		}}}
	cfg.ApplyDefaults()
	// No backend is reachable: the write's answer waits this long for a
	// verdict before "any" answers 204.
	cfg.WriteTimeout = 100 * time.Millisecond
	s, err := New(&cfg, Options{Version: "9.9.9-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.closeAll(t.Context())
	l := s.listeners[0]

	// One accepted write (the log has it; the backends are unreachable,
	// which the default consistency "any" answers 204 for) and one refused.
	for _, w := range []struct {
		params string
		want   int
	}{{"db=db", http.StatusNoContent}, {"", http.StatusBadRequest}} {
		rec := httptest.NewRecorder()
		l.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/write?"+w.params, strings.NewReader("cpu v=1 1\ncpu v=2 2\n")))
		if rec.Code != w.want {
			t.Fatalf("write %q: %d %s, want %d", w.params, rec.Code, rec.Body, w.want)
		}
	}

	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/vars", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("GET /debug/vars: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.Bytes()
	if bytes.Contains(body, []byte("hunter2")) || bytes.Contains(body, []byte("127.0.0.1:1")) {
		t.Errorf("/debug/vars shows a backend's URL or secret:\n%s", body)
	}

	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, body)
	}
	var system struct {
		CurrentTime string `json:"currentTime"`
		Started     string `json:"started"`
		Uptime      uint64 `json:"uptime"`
	}
	if err := json.Unmarshal(top["system"], &system); err != nil {
		t.Errorf("system: %v", err)
	}
	for _, ts := range []string{system.CurrentTime, system.Started} {
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("system time %q: %v", ts, err)
		}
	}
	var cmdline []string
	if err := json.Unmarshal(top["cmdline"], &cmdline); err != nil || len(cmdline) == 0 {
		t.Errorf("cmdline %s: %v", top["cmdline"], err)
	}
	// The memstats fields Telegraf reads, with its types (int64, a
	// 256-entry PauseNs, a float GCCPUFraction).
	var mem struct {
		Alloc, HeapAlloc, Sys, NumGC int64
		PauseNs                      [256]int64
		GCCPUFraction                float64
	}
	if err := json.Unmarshal(top["memstats"], &mem); err != nil || mem.Alloc == 0 || mem.Sys == 0 {
		t.Errorf("memstats %v: %+v", err, mem)
	}
	var build struct {
		Version string `json:"Version"`
	}
	if err := json.Unmarshal(top["build"], &build); err != nil || build.Version != "9.9.9-test" {
		t.Errorf("build %s: %v", top["build"], err)
	}

	stats := map[string]statistic{}
	for key, raw := range top {
		switch key {
		case "system", "cmdline", "memstats", "build":
			continue
		}
		var st statistic
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&st); err != nil || st.Name == "" || len(st.Values) == 0 {
			t.Errorf("%s is not a statistic (name, tags, values): %v %s", key, err, raw)
			continue
		}
		stats[key] = st
	}
	value := func(key, field string) string {
		t.Helper()
		st, ok := stats[key]
		if !ok {
			t.Errorf("no %s in /debug/vars; have %v", key, keys(stats))
			return ""
		}
		return valueString(st.Values[field])
	}
	checks := []struct{ key, field, want string }{
		{"runtime", "NumGoroutine", ""},
		{"influxgate", "connectionsRefused", "0"},
		{"influxgate_listener:main", "appends", "1"},
		{"influxgate_listener:main", "ready", "1"},
		{"influxgate_listener:main", "backends", "2"},
		{"influxgate_backend:main:a", "deliveredPoints", "0"},
		{"influxgate_backend:main:b", "bufferSizeBytes", ""},
		{"influxgate_write:v1", "req", "2"},
		{"influxgate_write:v1", "reqOK", "1"},
		{"influxgate_write:v1", "reqClientError", "1"},
		{"influxgate_write:v1", "pointsWrittenOK", "2"},
		{"influxgate_write:v2", "req", "0"},
		{"influxgate_query:query", "req", "0"},
	}
	for _, c := range checks {
		got := value(c.key, c.field)
		if got == "" || (c.want != "" && got != c.want) {
			t.Errorf("%s %s = %q, want %q", c.key, c.field, got, c.want)
		}
	}
	if st := stats["influxgate_backend:main:a"]; st.Tags["listener"] != "main" || st.Tags["backend"] != "a" {
		t.Errorf("backend a tags %v", st.Tags)
	}

	rec = httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/debug/vars", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /debug/vars: %d", rec.Code)
	}
}

func keys(m map[string]statistic) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func valueString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case json.Number:
		return v.String()
	case string:
		return v
	}
	return "?"
}
