package e2e

import (
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/status"
)

// fakeStatusSource is a listener whose backend states the test sets: an
// error minutes old on a backend that has been live since cannot be
// produced on demand without waiting those minutes.
type fakeStatusSource struct{ stats relay.Stats }

func (f fakeStatusSource) Stats() relay.Stats { return f.stats }
func (f fakeStatusSource) Ready() error       { return nil }

var lastErrorRE = regexp.MustCompile(`<p class="(error[^"]*)"[^>]*>([^<]*)</p>`)

// In a real browser, a backend's last error is red while the backend is
// down or the error is recent, and greyed with its age once the backend
// has been live for minutes (docs/operations.md, "The status page").
func TestStatusPageInBrowserGreysAnOldErrorOfALiveBackend(t *testing.T) {
	chromium := chromiumPath(t)
	now := time.Now()
	backend := func(name string, state relay.State, errAge time.Duration) relay.BackendStats {
		return relay.BackendStats{Name: name, Location: "http://" + name + ":8086/write", State: state,
			LastError: "Post \"http://" + name + ":8086/write\": connection refused", LastErrorAt: now.Add(-errAge)}
	}
	src := fakeStatusSource{relay.Stats{Name: "http", Backends: []relay.BackendStats{
		backend("old", relay.StateLive, 5*time.Minute),
		backend("recent", relay.StateLive, time.Second), // stays recent for a minute: ample for the browser
		backend("down", relay.StateDown, 5*time.Minute),
	}}}
	page := status.New(status.Options{Version: "test", Sources: func() []status.Source { return []status.Source{src} }})
	page.Sample()
	mux := http.NewServeMux()
	page.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cards := pageBackends(t, renderedDOM(t, chromium, srv.URL+"/status", 2*time.Second))
	// The ages grow while the browser starts.
	for name, want := range map[string]struct{ class, text string }{
		"old":    {"error old", `^Last error, 5 min \d+ s ago: Post "http://old:8086/write": connection refused$`},
		"recent": {"error", `^Last error \d+ s ago: Post "http://recent:8086/write": connection refused$`},
		"down":   {"error", `^Last error 5 min \d+ s ago: Post "http://down:8086/write": connection refused$`},
	} {
		m := lastErrorRE.FindStringSubmatch(cards[name].html)
		if m == nil {
			t.Errorf("backend %s: no last error shown:\n%s", name, clip(cards[name].html))
			continue
		}
		text := html.UnescapeString(m[2])
		if m[1] != want.class || !regexp.MustCompile(want.text).MatchString(text) {
			t.Errorf("backend %s (%s): last error shown as class %q text %q, want class %q text matching %s",
				name, cards[name].state, m[1], text, want.class, want.text)
		}
	}
}
