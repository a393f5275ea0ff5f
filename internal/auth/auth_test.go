package auth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/influxgate/influxgate/internal/config"
)

func TestGatewayCheck(t *testing.T) {
	g := New(config.AuthConfig{Mode: "gateway", Tokens: []string{"tok"},
		Users: []config.UserAuth{{Username: "telegraf", Password: "pw"}}})
	basic := func(u, p string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, p) } }
	header := func(v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set("Authorization", v) } }
	cases := []struct {
		name   string
		target string
		mut    func(*http.Request)
		want   error
	}{
		{"no credentials", "/write?db=x", nil, ErrNoCredentials},
		{"token", "/write", header("Token tok"), nil},
		{"bearer", "/write", header("Bearer tok"), nil},
		{"wrong token", "/write", header("Token nope"), ErrFailed},
		{"token as basic password", "/write", basic("anyone", "tok"), nil},
		{"token as p", "/write?u=x&p=tok", nil, nil},
		{"user basic", "/write", basic("telegraf", "pw"), nil},
		{"user u/p", "/query?u=telegraf&p=pw", nil, nil},
		{"user as token", "/write", header("Token telegraf:pw"), nil},
		{"user wrong password", "/write", basic("telegraf", "nope"), ErrFailed},
		{"unknown user", "/write?u=root&p=pw", nil, ErrFailed},
		{"garbage header", "/write", header("Digest abc"), ErrNoCredentials},
		{"empty token", "/write", header("Token "), ErrNoCredentials},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", c.target, nil)
		if c.mut != nil {
			c.mut(r)
		}
		if _, err := g.Check(r); err != c.want {
			t.Errorf("%s: Check = %v, want %v", c.name, err, c.want)
		}
	}
	// u/p in a /query form body.
	form := url.Values{"q": {"SHOW DATABASES"}, "u": {"telegraf"}, "p": {"pw"}}
	r := httptest.NewRequest("POST", "/query", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := g.Check(r); err != nil {
		t.Errorf("form u/p: %v", err)
	}
	// A /write body sent with curl's form content type stays untouched.
	r = httptest.NewRequest("POST", "/write?db=x", strings.NewReader("cpu v=1"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := g.Check(r); err != ErrNoCredentials || r.PostForm != nil {
		t.Errorf("write body parsed as a form: %v %v", err, r.PostForm)
	}
}

func TestPassThroughHasNoGateway(t *testing.T) {
	if g := New(config.AuthConfig{Mode: "pass-through"}); g != nil {
		t.Fatal("pass-through built a gateway")
	}
	var g *Gateway
	called := false
	h := g.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/query", nil))
	if !called {
		t.Error("nil gateway blocked a request")
	}
}

func TestMiddlewareAnswersLikeInfluxDBAndStripsCredentials(t *testing.T) {
	g := New(config.AuthConfig{Mode: "gateway", Tokens: []string{"tok"}})
	var seen *http.Request
	h := g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/write?db=x&u=a&p=bad", nil))
	if rec.Code != 401 || rec.Body.String() != "{\"error\":\"authorization failed\"}\n" ||
		rec.Header().Get("Www-Authenticate") != `Basic realm="InfluxDB"` || seen != nil {
		t.Errorf("refusal: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/write?db=x&u=a&p=tok", nil))
	if seen == nil || seen.URL.Query().Has("p") || seen.URL.Query().Get("db") != "x" {
		t.Errorf("accepted request: %v", seen)
	}
}

func TestCheckNamesThePrincipalAndItsRights(t *testing.T) {
	g := New(config.AuthConfig{Mode: "gateway", Tokens: []string{"tok"}, TokenRights: config.RightWrite,
		Users: []config.UserAuth{{Username: "grafana", Password: "pw", Rights: config.RightRead},
			{Username: "telegraf", Password: "pw2"}, {Username: "ops", Password: "pw3", Rights: config.RightAdmin}}})
	cases := []struct {
		name   string
		target string
		header string
		want   Principal
	}{
		{"token", "/write", "Token tok", Principal{TokenName, config.RightWrite}},
		{"token as a password", "/write?u=grafana&p=tok", "", Principal{TokenName, config.RightWrite}},
		{"read-only user", "/query?u=grafana&p=pw", "", Principal{"grafana", config.RightRead}},
		{"user without rights gets the default", "/query?u=telegraf&p=pw2", "", Principal{"telegraf", config.DefaultRights}},
		{"admin as Token user:password", "/query", "Token ops:pw3", Principal{"ops", config.RightAdmin}},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", c.target, nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		if p, err := g.Check(r); err != nil || p != c.want {
			t.Errorf("%s: Check = %+v, %v; want %+v", c.name, p, err, c.want)
		}
	}
}

// Writes and Flux need their right before anything reaches a handler, with
// influxd's 403; /query passes to its handler with the Principal.
func TestMiddlewareChecksTheEndpointsRight(t *testing.T) {
	g := New(config.AuthConfig{Mode: "gateway",
		Users: []config.UserAuth{{Username: "ro", Password: "pw", Rights: config.RightRead},
			{Username: "wo", Password: "pw", Rights: config.RightWrite}}})
	var seen *http.Request
	h := g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r }))
	cases := []struct {
		user, method, target string
		status               int
		body                 string
	}{
		{"ro", "POST", "/write?db=db", 403, `{"error":"\"ro\" user is not authorized to write to database \"db\""}`},
		{"ro", "POST", "/api/v2/write?bucket=db/rp", 403, `{"error":"\"ro\" user is not authorized to write to database \"db\""}`},
		{"wo", "POST", "/api/v2/query", 403, `{"error":"error authorizing query: wo not authorized to execute a Flux query, requires read"}`},
		{"ro", "POST", "/api/v1/prom/write?db=db", 403, `{"error":"\"ro\" user is not authorized to write to database \"db\""}`},
		{"wo", "POST", "/api/v1/prom/read?db=db", 403, `{"error":"error authorizing query: wo not authorized to execute a Prometheus remote read, requires read"}`},
		{"wo", "POST", "/write?db=db", 0, ""},
		{"ro", "POST", "/api/v2/query", 0, ""},
		{"wo", "POST", "/api/v1/prom/write?db=db", 0, ""},
		{"ro", "POST", "/api/v1/prom/read?db=db", 0, ""},
		{"wo", "GET", "/query?q=SHOW+DATABASES", 0, ""}, // statements are the handler's to check
	}
	for _, c := range cases {
		seen = nil
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(c.method, c.target, nil)
		r.SetBasicAuth(c.user, "pw")
		h.ServeHTTP(rec, r)
		if c.status != 0 {
			if rec.Code != c.status || strings.TrimSpace(rec.Body.String()) != c.body || seen != nil {
				t.Errorf("%s %s: %d %s (handler called: %v)", c.user, c.target, rec.Code, rec.Body.String(), seen != nil)
			}
			continue
		}
		if seen == nil {
			t.Errorf("%s %s: refused %d %s", c.user, c.target, rec.Code, rec.Body.String())
			continue
		}
		if p, ok := PrincipalFrom(seen.Context()); !ok || p.Name != c.user {
			t.Errorf("%s %s: principal %+v %v", c.user, c.target, p, ok)
		}
	}
}
