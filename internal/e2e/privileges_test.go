package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// users lists the users of an auth-enabled influxd.
func users(t *testing.T, s *testinflux.Server) string {
	t.Helper()
	return string(s.Query(t, "", "SHOW USERS").Body)
}

// relayConfigWithHTTPUser loads an influxdb-relay config, unchanged in
// format (http-user/http-pass), whose outputs carry the backends' admin
// credentials; the data dir is set after loading (influxdb-relay has no
// such key).
func relayConfigWithHTTPUser(t *testing.T, backends ...*testinflux.Server) *config.Config {
	t.Helper()
	var b strings.Builder
	b.WriteString("[[http]]\nname = \"relay\"\nbind-addr = \"127.0.0.1:0\"\noutput = [\n")
	for i, s := range backends {
		fmt.Fprintf(&b, "  { name = %q, location = %q, http-user = %q, http-pass = %q, max-delay-interval = \"1s\", timeout = \"5s\" },\n",
			string(rune('a'+i)), s.WriteURL(), testinflux.AdminUser, testinflux.AdminPassword)
	}
	b.WriteString("]\n")
	cfg, err := config.LoadBytes("relay.toml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Source.Format != config.FormatRelay {
		t.Fatalf("format %s, want influxdb-relay", cfg.Source.Format)
	}
	cfg.DataDir = t.TempDir()
	cfg.WriteTimeout = 5 * time.Second
	return cfg
}

// Pass-through mode with per-backend credentials (influxdb-relay's
// http-user/http-pass): those credentials serve writes and replays, and
// never turn an anonymous client into an admin — not live, and not when a
// backend that was down replays the statement from the log.
func TestAuthPassThroughOutputCredentialsLendNoPrivileges(t *testing.T) {
	t.Parallel()
	a := testinflux.Start(t, testinflux.Options{Auth: true})
	b := testinflux.Start(t, testinflux.Options{Auth: true})
	a.CreateDatabase(t, "db")
	b.CreateDatabase(t, "db")
	g := startGate(t, relayConfigWithHTTPUser(t, a, b))
	admin := []string{"Authorization", "Basic " + basic(testinflux.AdminUser, testinflux.AdminPassword)}

	// Writes use the output's credentials, as influxdb-relay's did.
	g.mustWrite(t, "db=db", "pt v=1 1\n")

	// b is down: the statement waits in the log for it.
	b.Stop(t)
	evil := url.Values{"q": {"CREATE USER evil WITH PASSWORD 'evil' WITH ALL PRIVILEGES"}}
	r := g.query(t, http.MethodPost, evil)
	want := do(t, http.MethodPost, a.URL()+"/query", evil.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if r.Status != http.StatusUnauthorized || r.Status != want.Status || r.errText() != want.errText() {
		t.Errorf("anonymous CREATE USER: %d %s; influxd itself: %d %s", r.Status, r.Body, want.Status, want.Body)
	}
	// Reads carry no borrowed credentials either: 401 as influxd answers.
	for _, q := range []string{"SHOW USERS", "SHOW DATABASES", "SELECT * FROM pt"} {
		params := url.Values{"q": {q}, "db": {"db"}}
		r := g.query(t, http.MethodGet, params)
		want := do(t, http.MethodGet, a.URL()+"/query?"+params.Encode(), "")
		if r.Status != http.StatusUnauthorized || r.Status != want.Status || r.errText() != want.errText() {
			t.Errorf("anonymous %s: %d %s; influxd itself: %d %s", q, r.Status, r.Body, want.Status, want.Body)
		}
	}
	b.Restart(t)
	g.waitCaughtUp(t, 30*time.Second)
	for _, s := range []*testinflux.Server{a, b} {
		if u := users(t, s); strings.Contains(u, "evil") {
			t.Errorf("%s: an anonymous CREATE USER through influxgate created a user: %s", s.URL(), u)
		}
	}

	// A client with credentials of its own, but no admin privilege, is
	// refused by the backends as influxd refuses it.
	for _, s := range []*testinflux.Server{a, b} {
		s.Exec(t, "CREATE USER bob WITH PASSWORD 'bobs'")
		s.Exec(t, "GRANT ALL ON db TO bob")
	}
	bob := []string{"Authorization", "Basic " + basic("bob", "bobs")}
	drop := url.Values{"q": {"DROP DATABASE db"}}
	r = g.query(t, http.MethodPost, drop, bob...)
	want = do(t, http.MethodPost, a.URL()+"/query", drop.Encode(), append(bob, "Content-Type", "application/x-www-form-urlencoded")...)
	if r.Status != http.StatusForbidden || r.errText() != want.errText() {
		t.Errorf("DROP DATABASE by a non-admin: %d %s; influxd itself: %d %s", r.Status, r.Body, want.Status, want.Body)
	}
	if r := g.query(t, http.MethodGet, url.Values{"q": {"SELECT v FROM pt"}, "db": {"db"}}, bob...); r.Status != 200 || !strings.Contains(r.Body, "[[") {
		t.Errorf("read with the client's own credentials: %d %s", r.Status, r.Body)
	}

	// A client with its own admin credentials may, on every backend,
	// including one that was down when it asked.
	b.Stop(t)
	if r := g.query(t, http.MethodPost, url.Values{"q": {"CREATE USER carol WITH PASSWORD 'carols'"}}, admin...); r.Status != 200 || strings.Contains(r.Body, "error") {
		t.Errorf("CREATE USER with the client's admin credentials: %d %s", r.Status, r.Body)
	}
	b.Restart(t)
	g.waitCaughtUp(t, 30*time.Second)
	for _, s := range []*testinflux.Server{a, b} {
		if u := users(t, s); !strings.Contains(u, "carol") || strings.Contains(u, "evil") {
			t.Errorf("%s: users %s, want carol and no evil", s.URL(), u)
		}
	}
	samePoints(t, "db", []string{"pt v=1 1"}, a, b)
}

// Gateway mode: influxgate checks each user's rights before anything
// reaches a backend (which sees the output's admin credentials), and
// refuses with influxd's own status and words.
func TestAuthGatewayRights(t *testing.T) {
	t.Parallel()
	a := testinflux.Start(t, testinflux.Options{Auth: true})
	b := testinflux.Start(t, testinflux.Options{Auth: true})
	a.CreateDatabase(t, "db")
	b.CreateDatabase(t, "db")
	cfg := newConfig(t, a, b)
	for i := range cfg.HTTP[0].Outputs {
		cfg.HTTP[0].Outputs[i].Username, cfg.HTTP[0].Outputs[i].Password = testinflux.AdminUser, testinflux.AdminPassword
	}
	cfg.HTTP[0].Auth = config.AuthConfig{Mode: "gateway", Tokens: []string{"write-token"}, TokenRights: config.RightWrite,
		Users: []config.UserAuth{
			{Username: "reader", Password: "rpw", Rights: config.RightRead},
			{Username: "writer", Password: "wpw", Rights: config.RightWrite},
			{Username: "plain", Password: "ppw"}, // no rights named: the default, read and write
			{Username: "ops", Password: "opw", Rights: config.RightAdmin},
		}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g := startGate(t, cfg)

	// influxd's own answers to the same requests, from users with the
	// matching grants on a.
	a.Exec(t, "CREATE USER reader WITH PASSWORD 'rpw'")
	a.Exec(t, "GRANT READ ON db TO reader")
	a.Exec(t, "CREATE USER writer WITH PASSWORD 'wpw'")
	a.Exec(t, "GRANT WRITE ON db TO writer")
	a.Exec(t, "CREATE USER plain WITH PASSWORD 'ppw'")
	a.Exec(t, "GRANT ALL ON db TO plain")
	as := func(user, pw string) []string { return []string{"Authorization", "Basic " + basic(user, pw)} }
	form := []string{"Content-Type", "application/x-www-form-urlencoded"}

	refused := []struct {
		user, pw string
		q        string // "" = a write
	}{
		{"reader", "rpw", ""},
		{"reader", "rpw", "CREATE DATABASE x"},
		{"reader", "rpw", "DELETE FROM gw"},
		{"writer", "wpw", "SELECT * FROM gw"},
		{"writer", "wpw", "CREATE USER evil WITH PASSWORD 'evil' WITH ALL PRIVILEGES"},
		{"writer", "wpw", "DROP DATABASE db"},
		{"plain", "ppw", "CREATE USER evil WITH PASSWORD 'evil' WITH ALL PRIVILEGES"},
		{"plain", "ppw", "GRANT ALL PRIVILEGES TO plain"},
		{"plain", "ppw", "SHOW USERS"},
		{"plain", "ppw", "SELECT * FROM gw; DROP DATABASE db"},
	}
	for _, c := range refused {
		var got, want response
		if c.q == "" {
			got = g.write(t, "db=db", "gw v=9 9\n", as(c.user, c.pw)...)
			want = do(t, http.MethodPost, a.URL()+"/write?db=db", "gw v=9 9\n", as(c.user, c.pw)...)
		} else {
			params := url.Values{"q": {c.q}, "db": {"db"}}
			got = g.query(t, http.MethodPost, params, as(c.user, c.pw)...)
			want = do(t, http.MethodPost, a.URL()+"/query", params.Encode(), append(as(c.user, c.pw), form...)...)
		}
		if got.Status != http.StatusForbidden || got.Status != want.Status || got.errText() != want.errText() {
			t.Errorf("%s %q: %d %s; influxd itself: %d %s", c.user, c.q, got.Status, got.Body, want.Status, want.Body)
		}
	}
	if r := do(t, http.MethodPost, g.url+"/write?db=db", "gw v=9 9\n", "Authorization", "Token write-token"); r.Status != http.StatusNoContent {
		t.Errorf("write with a write token: %d %s", r.Status, r.Body)
	}
	if r := g.query(t, http.MethodGet, url.Values{"q": {"SHOW DATABASES"}}, "Authorization", "Token write-token"); r.Status != 200 {
		t.Errorf("SHOW DATABASES (no privilege needed) with a write token: %d %s", r.Status, r.Body)
	}
	if r := g.query(t, http.MethodGet, url.Values{"q": {"SELECT * FROM gw"}, "db": {"db"}}, "Authorization", "Token write-token"); r.Status != http.StatusForbidden {
		t.Errorf("read with a write-only token: %d %s", r.Status, r.Body)
	}

	// What the rights allow works.
	if r := g.write(t, "db=db", "gw v=1 1\n", as("writer", "wpw")...); r.Status != http.StatusNoContent {
		t.Errorf("writer writes: %d %s", r.Status, r.Body)
	}
	if r := g.write(t, "db=db", "gw v=2 2\n", as("plain", "ppw")...); r.Status != http.StatusNoContent {
		t.Errorf("default rights write: %d %s", r.Status, r.Body)
	}
	g.waitCaughtUp(t, 10*time.Second)
	for _, u := range [][]string{as("reader", "rpw"), as("plain", "ppw")} {
		if r := g.query(t, http.MethodGet, url.Values{"q": {"SELECT count(v) FROM gw"}, "db": {"db"}}, u...); r.Status != 200 || !strings.Contains(r.Body, ",3]]") {
			t.Errorf("read by %s: %d %s", u[1], r.Status, r.Body)
		}
	}
	// The admin's statements reach every backend, also one that was down
	// when they were made: replayed from the log with the output's
	// credentials, because the gateway authorised them.
	b.Stop(t)
	for _, q := range []string{"CREATE USER dave WITH PASSWORD 'daves'", "CREATE DATABASE other", "DROP DATABASE db"} {
		if r := g.query(t, http.MethodPost, url.Values{"q": {q}}, as("ops", "opw")...); r.Status != 200 || strings.Contains(r.Body, "error") {
			t.Errorf("admin %s: %d %s", q, r.Status, r.Body)
		}
	}
	b.Restart(t)
	g.waitCaughtUp(t, 30*time.Second)
	for _, s := range []*testinflux.Server{a, b} {
		dbs := string(s.Query(t, "", "SHOW DATABASES").Body)
		if u := users(t, s); !strings.Contains(u, "dave") || strings.Contains(u, "evil") ||
			!strings.Contains(dbs, "other") || strings.Contains(dbs, `["db"]`) {
			t.Errorf("%s: users %s, databases %s; want dave, no evil, other and no db", s.URL(), u, dbs)
		}
	}
}
