package e2e

import (
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// TLS both ways: clients reach influxgate over HTTPS (ssl-combined-pem),
// influxgate reaches the backends over HTTPS (one verified with ca-file,
// one with skip-tls-verification).
func TestTLSBothWays(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	tlsOpts := &testinflux.TLSOptions{CertFile: ca.CertFile, KeyFile: ca.KeyFile}
	a := testinflux.Start(t, testinflux.Options{TLS: tlsOpts})
	b := testinflux.Start(t, testinflux.Options{TLS: tlsOpts})
	a.CreateDatabase(t, "db")
	b.CreateDatabase(t, "db")
	cfg := newConfig(t, a, b)
	cfg.HTTP[0].SSLCombinedPEM = ca.CombinedFile
	cfg.HTTP[0].Outputs[0].CAFile = ca.CAFile
	cfg.HTTP[0].Outputs[1].SkipTLSVerification = true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g := startGate(t, cfg)
	g.url = strings.Replace(g.url, "http://", "https://", 1)
	client := ca.client()
	resp, err := client.Post(g.url+"/write?db=db", "text/plain", strings.NewReader("tls v=1 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("HTTPS write: %d", resp.StatusCode)
	}
	waitTLS(t, client, g.url)
	samePoints(t, "db", []string{"tls v=1 1"}, a, b)
	resp, err = client.Get(g.url + "/query?" + url.Values{"q": {"SELECT v FROM tls"}, "db": {"db"}, "epoch": {"ns"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "[[1,1]]") {
		t.Errorf("HTTPS query: %d %s", resp.StatusCode, body)
	}
	// A plain-HTTP client is refused by the TLS listener.
	if r, err := http.Get(strings.Replace(g.url, "https://", "http://", 1) + "/ping"); err == nil {
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS listener: %d", r.StatusCode)
		}
		r.Body.Close()
	}
}

// waitTLS waits for empty backlogs through an HTTPS /health.
func waitTLS(t *testing.T, client *http.Client, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(base + "/health")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Count(string(b), `"backlog_records": 0`) == 2 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("backends did not catch up over TLS")
}

// A backend whose certificate cannot be verified is down, not silently
// trusted; the write is kept for it.
func TestBackendCertificateIsVerified(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	a := testinflux.Start(t, testinflux.Options{TLS: &testinflux.TLSOptions{CertFile: ca.CertFile, KeyFile: ca.KeyFile}})
	a.CreateDatabase(t, "db")
	g := startGate(t, newConfig(t, a)) // no ca-file: the system roots do not know the test CA
	g.mustWrite(t, "db=db", "v v=1 1\n")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, h := g.health(t)
		if h.Checks[0].State == "down" && h.Checks[0].BacklogRecs == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unverifiable backend not down: %+v", h.Checks[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := a.Count(t, "db", "v"); n != 0 {
		t.Errorf("point delivered over an unverified connection")
	}
}

func gatewayConfig(t *testing.T, backends ...*testinflux.Server) *config.Config {
	cfg := newConfig(t, backends...)
	cfg.HTTP[0].Auth = config.AuthConfig{Mode: "gateway", Tokens: []string{"s3cret-token"},
		Users: []config.UserAuth{{Username: "telegraf", Password: "pw"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestGatewayAuth(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	g := startGate(t, gatewayConfig(t, a, b))
	refused := []struct {
		name  string
		query string
		hdr   []string
		want  string
	}{
		{"no credentials", "db=db", nil, "unable to parse authentication credentials"},
		{"wrong token", "db=db", []string{"Authorization", "Token nope"}, "authorization failed"},
		{"wrong password", "db=db&u=telegraf&p=nope", nil, "authorization failed"},
		{"unknown user", "db=db", []string{"Authorization", "Basic " + basic("root", "pw")}, "authorization failed"},
	}
	for _, c := range refused {
		r := g.write(t, c.query, "refused v=1 1\n", c.hdr...)
		if r.Status != 401 || r.errText() != c.want || r.Header.Get("Www-Authenticate") == "" {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
		}
		q := g.query(t, "GET", url.Values{"q": {"SHOW DATABASES"}}, c.hdr...)
		if q.Status != 401 {
			t.Errorf("%s query: %d %s", c.name, q.Status, q.Body)
		}
	}
	for _, ok := range [][]string{{"Authorization", "Token s3cret-token"}, {"Authorization", "Basic " + basic("telegraf", "pw")},
		{"Authorization", "Token telegraf:pw"}} {
		if r := g.write(t, "db=db", "ok v=1 1\n", ok...); r.Status != 204 {
			t.Errorf("%v: %d %s", ok, r.Status, r.Body)
		}
	}
	if r := g.write(t, "db=db&u=telegraf&p=pw", "ok v=1 1\n"); r.Status != 204 {
		t.Errorf("u/p: %d %s", r.Status, r.Body)
	}
	if r := g.query(t, "POST", url.Values{"q": {"SHOW DATABASES"}, "u": {"x"}, "p": {"s3cret-token"}}); r.Status != 200 {
		t.Errorf("query with the token as p: %d %s", r.Status, r.Body)
	}
	if r := do(t, "GET", g.url+"/ping", ""); r.Status != 204 {
		t.Errorf("/ping must stay open: %d", r.Status)
	}
	g.waitCaughtUp(t, 10*time.Second)
	// Nothing refused was logged or forwarded.
	samePoints(t, "db", []string{"ok v=1 1"}, a, b)
	_, h := g.health(t)
	for _, c := range h.Checks {
		if c.Delivered != 4 {
			t.Errorf("%s delivered %d points, want the 4 accepted", c.Name, c.Delivered)
		}
	}
	// The influx CLI with a user works too.
	host, port, _ := strings.Cut(strings.TrimPrefix(g.url, "http://"), ":")
	out, err := exec.Command("influx", "-host", host, "-port", port, "-username", "telegraf", "-password", "pw",
		"-execute", "SHOW DATABASES").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "db") {
		t.Errorf("influx CLI with credentials: %v %s", err, out)
	}
}

func basic(u, p string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(u, p)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

// Per-backend credentials are used for writes and replays; statements and
// reads carry the client's own credentials in pass-through mode (see
// TestAuthPassThroughOutputCredentialsLendNoPrivileges).
func TestBackendCredentials(t *testing.T) {
	t.Parallel()
	a := testinflux.Start(t, testinflux.Options{Auth: true})
	b := testinflux.Start(t, testinflux.Options{Auth: true})
	cfg := newConfig(t, a, b)
	for i := range cfg.HTTP[0].Outputs {
		cfg.HTTP[0].Outputs[i].Username, cfg.HTTP[0].Outputs[i].Password = testinflux.AdminUser, testinflux.AdminPassword
	}
	g := startGate(t, cfg)
	clientAdmin := url.Values{"u": {testinflux.AdminUser}, "p": {testinflux.AdminPassword}}
	create := url.Values{"q": {"CREATE DATABASE db"}, "u": clientAdmin["u"], "p": clientAdmin["p"]}
	if r := g.query(t, "POST", create); r.Status != 200 || strings.Contains(r.Body, "error") {
		t.Fatalf("CREATE DATABASE with the client's credentials: %d %s", r.Status, r.Body)
	}
	g.mustWrite(t, "db=db", "cred v=1 1\n")
	b.Stop(t)
	g.mustWrite(t, "db=db", "cred v=2 2\n")
	b.Restart(t)
	g.waitCaughtUp(t, 30*time.Second)
	samePoints(t, "db", []string{"cred v=1 1", "cred v=2 2"}, a, b)
	read := url.Values{"q": {"SELECT count(v) FROM cred"}, "db": {"db"}, "u": clientAdmin["u"], "p": clientAdmin["p"]}
	if r := g.query(t, "GET", read); r.Status != 200 || !strings.Contains(r.Body, ",2]]") {
		t.Errorf("query with the client's credentials: %d %s", r.Status, r.Body)
	}
}

// Pass-through: the client's credentials decide; a wrong password gets the
// backends' own 401 and nothing is stored.
func TestPassThroughCredentials(t *testing.T) {
	t.Parallel()
	a := testinflux.Start(t, testinflux.Options{Auth: true})
	b := testinflux.Start(t, testinflux.Options{Auth: true})
	a.CreateDatabase(t, "db")
	b.CreateDatabase(t, "db")
	g := startGate(t, newConfig(t, a, b))
	creds := "&u=" + testinflux.AdminUser + "&p=" + testinflux.AdminPassword
	g.mustWrite(t, "db=db"+creds, "pt v=1 1\n")
	if r := g.write(t, "db=db&u=admin&p=wrong", "pt v=2 2\n"); r.Status != 401 || r.errText() != "authorization failed" {
		t.Errorf("wrong password: %d %s", r.Status, r.Body)
	}
	if r := g.write(t, "db=db", "pt v=3 3\n"); r.Status != 401 {
		t.Errorf("no credentials: %d %s", r.Status, r.Body)
	}
	if r := g.query(t, "GET", url.Values{"q": {"SHOW DATABASES"}, "u": {testinflux.AdminUser}, "p": {testinflux.AdminPassword}}); r.Status != 200 {
		t.Errorf("query with the client's credentials: %d %s", r.Status, r.Body)
	}
	if r := g.query(t, "GET", url.Values{"q": {"SHOW DATABASES"}}); r.Status != 401 {
		t.Errorf("query without credentials: %d %s", r.Status, r.Body)
	}
	g.waitCaughtUp(t, 10*time.Second)
	samePoints(t, "db", []string{"pt v=1 1"}, a, b)
}
