package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The status page is checked in a real browser: Debian's headless
// Chromium loads it, its JavaScript fetches /status.json and builds the
// page, and --dump-dom prints the DOM once the page's virtual-time budget
// has run out (virtual time pauses while a fetch is in flight, so the
// budget covers several polls however slow the machine is). This needs
// no DevTools-protocol library; the test reads the DOM the page's script
// built, not the HTML the server sent (which holds no backend at all).

// chromiumPath finds the browser or fails the test: the check must not be
// skipped silently on a machine that lacks it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("headless Chromium is needed to test the status page and was not found " +
		"(looked for $CHROMIUM, /usr/bin/chromium, chromium, chromium-browser on PATH): " +
		"install it with `apt-get install -y chromium` (make deps does)")
	return ""
}

// renderedDOM loads url in headless Chromium and returns the DOM after the
// page's scripts ran for budget of virtual time.
func renderedDOM(t *testing.T, chromium, url string, budget time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--user-data-dir="+t.TempDir(), "--window-size=390,844", // a phone's viewport
		fmt.Sprintf("--virtual-time-budget=%d", budget.Milliseconds()), "--dump-dom", url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\nstderr (tail): %s", url, err, tail(stderr.String(), 2000))
	}
	return string(out)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// pageBackend is what the rendered page shows for one backend.
type pageBackend struct {
	state, badge, trend string
	backlog             uint64
	html                string
}

var (
	cardRE    = regexp.MustCompile(`(?s)<section class="card backend[^"]*" data-listener="([^"]*)" data-backend="([^"]*)" data-state="([^"]*)">(.*?)</section>`)
	badgeRE   = regexp.MustCompile(`data-field="state">([^<]*)<`)
	backlogRE = regexp.MustCompile(`data-field="backlog-records">([\d,]+)<`)
	trendRE   = regexp.MustCompile(`data-field="trend">([^<]*)<`)
)

// pageBackends parses the backend cards of a rendered status page.
func pageBackends(t *testing.T, dom string) map[string]pageBackend {
	t.Helper()
	out := map[string]pageBackend{}
	for _, m := range cardRE.FindAllStringSubmatch(dom, -1) {
		b := pageBackend{state: m[3], html: m[4]}
		if s := badgeRE.FindStringSubmatch(m[4]); s != nil {
			b.badge = s[1]
		}
		if s := trendRE.FindStringSubmatch(m[4]); s != nil {
			b.trend = s[1]
		}
		if s := backlogRE.FindStringSubmatch(m[4]); s != nil {
			n, err := strconv.ParseUint(strings.ReplaceAll(s[1], ",", ""), 10, 64)
			if err != nil {
				t.Fatalf("backlog %q of backend %s: %v", s[1], m[2], err)
			}
			b.backlog = n
		} else {
			t.Fatalf("the card of backend %s shows no backlog:\n%s", m[2], clip(m[4]))
		}
		out[m[2]] = b
	}
	if len(out) == 0 {
		t.Fatalf("the rendered page shows no backend card (did its script run?):\n%s", clip(dom))
	}
	return out
}

func TestStatusPageInBrowserShowsDownBackendWithGrowingBacklog(t *testing.T) {
	chromium := chromiumPath(t)
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	g.mustWrite(t, "db=db", "cpu v=0 1")
	g.waitCaughtUp(t, 10*time.Second)

	// The HTML as sent holds no data: whatever the test finds below, the
	// page's script put there.
	if r := do(t, http.MethodGet, g.url+"/", ""); r.Status != 200 || strings.Contains(r.Body, `data-backend="a"`) {
		t.Fatalf("GET /: %d, or the page is not built by its script", r.Status)
	}

	b.Stop(t)
	// Write until influxgate has found b down; each write adds a record
	// to b's backlog.
	deadline := time.Now().Add(30 * time.Second)
	for i := 1; ; i++ {
		g.mustWrite(t, "db=db", fmt.Sprintf("cpu v=%d %d", i, i+1))
		_, h := g.health(t)
		if h.Checks[1].State == "down" && h.Checks[1].BacklogRecs > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend b not seen down after it stopped: %+v", h.Checks)
		}
		time.Sleep(100 * time.Millisecond)
	}

	first := pageBackends(t, renderedDOM(t, chromium, g.url+"/status", 3*time.Second))
	if first["b"].state != "down" || first["b"].badge != "down" {
		t.Fatalf("page shows stopped backend b as %q (badge %q), want down:\n%s", first["b"].state, first["b"].badge, clip(first["b"].html))
	}
	if first["a"].state != "live" || first["a"].backlog != 0 {
		t.Errorf("page shows running backend a as %q with backlog %d, want live with 0", first["a"].state, first["a"].backlog)
	}
	if first["b"].backlog == 0 {
		t.Fatalf("page shows no backlog for down backend b:\n%s", clip(first["b"].html))
	}

	for i := range 20 {
		g.mustWrite(t, "db=db", fmt.Sprintf("cpu v=%d %d", 1000+i, 1000+i))
	}
	second := pageBackends(t, renderedDOM(t, chromium, g.url+"/", 3*time.Second))
	if second["b"].state != "down" {
		t.Errorf("second load: backend b shown as %q, want down", second["b"].state)
	}
	if second["b"].backlog < first["b"].backlog+20 {
		t.Errorf("backlog of b shown as %d after 20 more writes, was %d: not growing", second["b"].backlog, first["b"].backlog)
	}
	if !strings.Contains(second["b"].trend, "growing") {
		t.Errorf("backlog trend of b shown as %q, want growing", second["b"].trend)
	}
	if !strings.Contains(second["b"].html, `aria-label="Backlog (records)"`) {
		t.Errorf("the card of b has no backlog chart:\n%s", clip(second["b"].html))
	}
	if second["a"].state != "live" {
		t.Errorf("second load: backend a shown as %q, want live", second["a"].state)
	}

	// b comes back, replays what it missed and, having received it late,
	// gets its continuous queries recomputed: the card says so.
	b.Restart(t)
	g.waitCaughtUp(t, 30*time.Second)
	waitBackfilled(t, g, "b", 1, 30*time.Second)
	third := pageBackends(t, renderedDOM(t, chromium, g.url+"/", 3*time.Second))
	if m := cqBackfillRE.FindStringSubmatch(third["b"].html); m == nil || !strings.HasPrefix(m[1], "idle (1 run") {
		t.Errorf("the card of b after its replay shows CQ backfill %q, want idle after 1 run:\n%s", m, clip(third["b"].html))
	}
}

var cqBackfillRE = regexp.MustCompile(`data-field="cq-backfill">([^<]*)<`)
