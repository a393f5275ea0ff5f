// Package auth checks client credentials and rights when a listener runs in
// gateway mode: influxgate itself accepts or refuses a request, in the
// forms InfluxDB clients send (Authorization: Token, Basic auth, ?u=&p=),
// answers 401 the way InfluxDB does, and refuses with InfluxDB's 403 what
// the user's rights (read, write, admin) do not allow. Only then do the
// backends see the request, with the output's credentials: that is why
// influxgate must check rights itself (G7).
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
	tokens      [][sha256.Size]byte
	tokenRights config.Rights
	users       map[string]user
}

type user struct {
	password [sha256.Size]byte
	rights   config.Rights
}

// TokenName is the Principal name of a client that presented a token: it
// names the token holder in 403 answers without showing the token.
const TokenName = "token"

// New returns the checker for cfg, or nil in pass-through mode (then the
// backends decide).
func New(cfg config.AuthConfig) *Gateway {
	if cfg.Mode != "gateway" {
		return nil
	}
	g := &Gateway{users: make(map[string]user), tokenRights: cfg.TokenRights.OrDefault()}
	for _, t := range cfg.Tokens {
		g.tokens = append(g.tokens, sha256.Sum256([]byte(t)))
	}
	for _, u := range cfg.Users {
		g.users[u.Username] = user{password: sha256.Sum256([]byte(u.Password)), rights: u.Rights.OrDefault()}
	}
	return g
}

// Check returns who r's credentials belong to: a token (as "Token <t>",
// "Bearer <t>", or the password of Basic auth or u/p) or a user (Basic
// auth, u/p, or "Token user:password"); an error when there are none or
// they are not accepted.
func (g *Gateway) Check(r *http.Request) (Principal, error) {
	name, secret, ok := credentials(r)
	if !ok {
		return Principal{}, ErrNoCredentials
	}
	if u, ok := g.userOK(name, secret); ok {
		return Principal{Name: name, Rights: u.rights}, nil
	}
	if g.tokenOK(secret) {
		return Principal{Name: TokenName, Rights: g.tokenRights}, nil
	}
	if name == "" {
		// "Token user:password", as InfluxDB 1.8 accepts.
		if n, p, found := strings.Cut(secret, ":"); found {
			if u, ok := g.userOK(n, p); ok {
				return Principal{Name: n, Rights: u.rights}, nil
			}
		}
	}
	return Principal{}, ErrFailed
}

func (g *Gateway) tokenOK(secret string) bool {
	h := sha256.Sum256([]byte(secret))
	ok := 0
	for _, t := range g.tokens {
		ok |= subtle.ConstantTimeCompare(h[:], t[:])
	}
	return ok == 1
}

func (g *Gateway) userOK(name, password string) (user, bool) {
	u, found := g.users[name]
	if !found || name == "" {
		return user{}, false
	}
	h := sha256.Sum256([]byte(password))
	return u, subtle.ConstantTimeCompare(h[:], u.password[:]) == 1
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
// 401 answer, and writes (and Flux queries) the client has no right to
// with InfluxDB's 403; it hands the Principal to the handler in the
// request's context (PrincipalFrom), where /query checks each statement.
// A nil Gateway lets everything through.
func (g *Gateway) Middleware(next http.Handler) http.Handler {
	if g == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := g.Check(r)
		if err != nil {
			w.Header().Set("Www-Authenticate", `Basic realm="InfluxDB"`)
			influxerr.Write(w, http.StatusUnauthorized, err.Error())
			return
		}
		if err := p.authorizeEndpoint(r); err != nil {
			influxerr.Write(w, http.StatusForbidden, err.Error())
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
		next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p)))
	})
}
