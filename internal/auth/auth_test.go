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
		if err := g.Check(r); err != c.want {
			t.Errorf("%s: Check = %v, want %v", c.name, err, c.want)
		}
	}
	// u/p in a /query form body.
	form := url.Values{"q": {"SHOW DATABASES"}, "u": {"telegraf"}, "p": {"pw"}}
	r := httptest.NewRequest("POST", "/query", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := g.Check(r); err != nil {
		t.Errorf("form u/p: %v", err)
	}
	// A /write body sent with curl's form content type stays untouched.
	r = httptest.NewRequest("POST", "/write?db=x", strings.NewReader("cpu v=1"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := g.Check(r); err != ErrNoCredentials || r.PostForm != nil {
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
