package e2e

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// With gateway auth, wrong or missing credentials get InfluxDB's 401 (as
// an auth-enabled influxd 1.8 answers the same mistake) and nothing reaches a
// backend: no write, no schema change, no read.
func TestHostileWrongCredentials(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, loadDB)
	ref := testinflux.Start(t, testinflux.Options{Version: testinflux.V1810, Auth: true})
	pa, pb := newFakeFaultProxy(t, "a", a.URL()), newFakeFaultProxy(t, "b", b.URL())
	cfg := newConfig(t)
	cfg.HTTP[0].Outputs = []config.OutputConfig{output("a", pa.WriteURL()), output("b", pb.WriteURL())}
	cfg.HTTP[0].Auth = config.AuthConfig{Mode: "gateway", Tokens: []string{"the-token"},
		Users: []config.UserAuth{{Username: testinflux.AdminUser, Password: testinflux.AdminPassword}}}
	cfg.ApplyDefaults()
	g := startGate(t, cfg)

	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	line := []byte("hostile v=1 1\n")
	form := []byte(url.Values{"q": {"CREATE DATABASE hostile"}}.Encode())
	formHdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	withAuth := func(h map[string]string, v string) map[string]string {
		out := map[string]string{"Authorization": v}
		for k, x := range h {
			out[k] = x
		}
		return out
	}
	cases := []struct {
		name, method, target string
		hdr                  map[string]string
		body                 []byte
	}{
		{"write without credentials", "POST", "/write?db=DB", nil, line},
		{"write with a wrong password", "POST", "/write?db=DB&u=admin&p=wrong", nil, line},
		{"write with an unknown user", "POST", "/write?db=DB&u=nobody&p=x", nil, line},
		{"write with wrong Basic auth", "POST", "/write?db=DB", map[string]string{"Authorization": basic("admin", "wrong")}, line},
		{"write with a wrong token user:password", "POST", "/write?db=DB", map[string]string{"Authorization": "Token admin:wrong"}, line},
		{"v2 write with a wrong token", "POST", "/api/v2/write?bucket=DB", map[string]string{"Authorization": "Token admin:nope"}, line},
		{"CREATE DATABASE without credentials", "POST", "/query", formHdr, form},
		{"CREATE DATABASE with a wrong password", "POST", "/query", withAuth(formHdr, basic("admin", "wrong")), form},
		{"read with a wrong password", "GET", "/query?db=DB&u=admin&p=wrong&q=" + url.QueryEscape("SELECT * FROM load"), nil, nil},
	}
	before := map[string]int{}
	for _, p := range []*fakeFaultProxy{pa, pb} {
		_, before[p.name], _ = p.stats()
	}
	gateAddr := strings.TrimPrefix(g.url, "http://")
	for _, c := range cases {
		target := strings.ReplaceAll(c.target, "DB", loadDB)
		got := rawRequest(t, gateAddr, c.method, target, c.hdr, c.body, false)
		want := rawRequest(t, ref.Addr(), c.method, target, c.hdr, c.body, false)
		if got.Status != http.StatusUnauthorized || got.Status != want.Status || got.errText() != want.errText() {
			t.Errorf("%s: %d %s; influxd with auth: %d %s", c.name, got.Status, short(got.Body), want.Status, short(want.Body))
		}
		if (got.Headers["Www-Authenticate"] == "") != (want.Headers["Www-Authenticate"] == "") {
			t.Errorf("%s: Www-Authenticate %q; influxd: %q", c.name, got.Headers["Www-Authenticate"], want.Headers["Www-Authenticate"])
		}
	}
	for _, p := range []*fakeFaultProxy{pa, pb} {
		if _, n, _ := p.stats(); n != before[p.name] {
			t.Errorf("backend %s received %d requests from unauthenticated clients", p.name, n-before[p.name])
		}
	}
	// The right credentials work, and nothing of the refused requests exists.
	r := g.write(t, "db="+loadDB+"&u="+testinflux.AdminUser+"&p="+testinflux.AdminPassword, loadBody(0, 1))
	if r.Status != http.StatusNoContent {
		t.Fatalf("write with the right credentials: %d %s", r.Status, r.Body)
	}
	r = do(t, http.MethodPost, g.url+"/write?db="+loadDB, loadBody(1, 1), "Authorization", "Token the-token")
	if r.Status != http.StatusNoContent {
		t.Fatalf("write with the right token: %d %s", r.Status, r.Body)
	}
	g.waitCaughtUp(t, 30*time.Second)
	for _, s := range []*testinflux.Server{a, b} {
		if strings.Contains(string(s.Query(t, "", "SHOW DATABASES").Body), "hostile") {
			t.Errorf("%s: an unauthenticated CREATE DATABASE was applied", s.URL())
		}
	}
	samePoints(t, loadDB, []string{strings.TrimSpace(loadBody(0, 1)), strings.TrimSpace(loadBody(1, 1))}, a, b)
}
