package influxerr

import (
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBodyAndMessageRoundTrip(t *testing.T) {
	for _, msg := range []string{"database not found: \"x\"", "quote \" and \\ and \n newline", ""} {
		if got := Message(Body(msg)); got != msg {
			t.Errorf("Message(Body(%q)) = %q", msg, got)
		}
	}
	if Message([]byte("not json")) != "" || Message([]byte(`{"results":[]}`)) != "" {
		t.Error("Message found an error in a body without one")
	}
	if got := Text([]byte("  plain text\n")); got != "plain text" {
		t.Errorf("Text(plain) = %q", got)
	}
}

func TestHeaderTurnsLineBreaksIntoSpacesAsInfluxdDoes(t *testing.T) {
	got := Header("unable to parse 'a':\nbad\r\nline\x00end\ttab")
	if want := "unable to parse 'a': bad  line?end\ttab"; got != want {
		t.Errorf("Header = %q, want %q", got, want)
	}
	long := Header("unable to parse '" + strings.Repeat("é", 5000) + "'")
	if len(long) > maxHeader+len("…") || !strings.HasSuffix(long, "…") || !utf8.ValidString(long) {
		t.Errorf("long message: %d bytes, valid UTF-8 %v", len(long), utf8.ValidString(long))
	}
}

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, 404, "database not found: \"x\"\nsecond line")
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if h := rec.Header().Get("X-Influxdb-Error"); h != "database not found: \"x\" second line" {
		t.Errorf("X-Influxdb-Error = %q", h)
	}
	if b := rec.Body.String(); b != "{\"error\":\"database not found: \\\"x\\\"\\nsecond line\"}\n" {
		t.Errorf("body = %q", b)
	}
}

func TestOverloadAnswersCarryRetryAfter(t *testing.T) {
	for _, c := range []struct {
		status int
		set    string // Retry-After the caller set first
		want   string
	}{
		{503, "", RetryAfter},
		{429, "", RetryAfter},
		{503, "7", "7"},
		{400, "", ""},
		{500, "", ""},
	} {
		rec := httptest.NewRecorder()
		if c.set != "" {
			rec.Header().Set("Retry-After", c.set)
		}
		WriteBody(rec, c.status, Body("x"))
		if got := rec.Header().Get("Retry-After"); got != c.want {
			t.Errorf("status %d, caller's %q: Retry-After %q, want %q", c.status, c.set, got, c.want)
		}
	}
}
