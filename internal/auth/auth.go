// Package auth checks client credentials when a listener runs in gateway
// mode: influxgate itself accepts or refuses a request, in the forms
// InfluxDB clients send (Authorization: Token, Basic auth, ?u=&p=), and
// answers 401 the way InfluxDB does.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/influxerr"
)

// Errors with InfluxDB's wording.
var (
	ErrNoCredentials = errors.New("unable to parse authentication credentials")
	ErrFailed        = errors.New("authorization failed")
)

// Gateway holds the accepted tokens and users of one listener.
type Gateway struct {
	tokens [][sha256.Size]byte
	users  map[string][sha256.Size]byte
}

// New returns the checker for cfg, or nil in pass-through mode (then the
// backends decide).
func New(cfg config.AuthConfig) *Gateway {
	if cfg.Mode != "gateway" {
		return nil
	}
	g := &Gateway{users: make(map[string][sha256.Size]byte)}
	for _, t := range cfg.Tokens {
		g.tokens = append(g.tokens, sha256.Sum256([]byte(t)))
	}
	for _, u := range cfg.Users {
		g.users[u.Username] = sha256.Sum256([]byte(u.Password))
	}
	return g
}

// Check returns nil when r carries accepted credentials: a token (as
// "Token <t>", "Bearer <t>", or the password of Basic auth or u/p) or a
// user (Basic auth, u/p, or "Token user:password").
func (g *Gateway) Check(r *http.Request) error {
	user, secret, ok := credentials(r)
	if !ok {
		return ErrNoCredentials
	}
	if g.tokenOK(secret) || g.userOK(user, secret) {
		return nil
	}
	if user == "" {
		// "Token user:password", as InfluxDB 1.8 accepts.
		if u, p, found := strings.Cut(secret, ":"); found && g.userOK(u, p) {
			return nil
		}
	}
	return ErrFailed
}

func (g *Gateway) tokenOK(secret string) bool {
	h := sha256.Sum256([]byte(secret))
	ok := 0
	for _, t := range g.tokens {
		ok |= subtle.ConstantTimeCompare(h[:], t[:])
	}
	return ok == 1
}

func (g *Gateway) userOK(user, password string) bool {
	want, found := g.users[user]
	if !found || user == "" {
		return false
	}
	h := sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(h[:], want[:]) == 1
}

// credentials extracts (user, secret) from the request: Token/Bearer gives
// ("", token), Basic and u/p give (user, password).
func credentials(r *http.Request) (user, secret string, ok bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		switch strings.ToLower(scheme) {
		case "token", "bearer":
			return "", strings.TrimSpace(rest), strings.TrimSpace(rest) != ""
		case "basic":
			if u, p, ok := r.BasicAuth(); ok {
				return u, p, true
			}
		}
		return "", "", false
	}
	q := r.URL.Query()
	if q.Has("u") || q.Has("p") {
		return q.Get("u"), q.Get("p"), true
	}
	if r.URL.Path == "/query" && r.Method == http.MethodPost &&
		strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		// /query takes u/p in the form body too; ParseForm keeps the
		// parsed form for the handler. (Never on /write: curl sends line
		// protocol with this content type.)
		if err := r.ParseForm(); err == nil && (r.PostForm.Has("u") || r.PostForm.Has("p")) {
			return r.PostForm.Get("u"), r.PostForm.Get("p"), true
		}
	}
	return "", "", false
}

// Middleware refuses requests without accepted credentials with InfluxDB's
// 401 answer; a nil Gateway lets everything through.
func (g *Gateway) Middleware(next http.Handler) http.Handler {
	if g == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := g.Check(r); err != nil {
			w.Header().Set("Www-Authenticate", `Basic realm="InfluxDB"`)
			influxerr.Write(w, http.StatusUnauthorized, err.Error())
			return
		}
		// The client's credentials were for influxgate; the backends get
		// their own (per-output credentials) or none.
		r.Header.Del("Authorization")
		if q := r.URL.Query(); q.Has("u") || q.Has("p") {
			q.Del("u")
			q.Del("p")
			r.URL.RawQuery = q.Encode()
		}
		if r.PostForm != nil {
			r.PostForm.Del("u")
			r.PostForm.Del("p")
			r.Form.Del("u")
			r.Form.Del("p")
		}
		next.ServeHTTP(w, r)
	})
}
