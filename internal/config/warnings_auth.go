package config

import (
	"fmt"
	"net"
	"strings"
)

// authWarnings says what anyone who reaches a listener can do that the
// config's author may not expect (G7: credentials in the config never lend
// their privileges to a client that did not prove its own; these are the
// places where they still serve someone who proved nothing, and the places
// where proof travels unprotected):
//
//   - a pass-through [[http]] listener whose outputs carry credentials:
//     anyone who reaches it writes with them (writes and replays use the
//     output's credentials; reads and statements do not);
//   - a [[udp]] listener whose HTTP outputs carry credentials: UDP has no
//     authentication, so anyone who can send it a datagram writes with them;
//   - a gateway listener serving plain HTTP on a non-loopback address:
//     passwords and tokens cross the network readable;
//   - gateway users and tokens that name no rights: they get DefaultRights.
func (c *Config) authWarnings() []string {
	var w []string
	// An Inmate file has one listener and its own key names.
	inmate := c.Source.Format == FormatInmate
	for i, h := range c.HTTP {
		listener := fmt.Sprintf("http[%d] (%q, bind-addr %q)", i, h.Name, h.BindAddr)
		rightsKey := fmt.Sprintf("http[%d].auth", i)
		requireCreds := `set [http.auth] mode = "gateway" with users or tokens to require credentials`
		useTLS := "set ssl-combined-pem or tls-cert and tls-key, or bind to a loopback address behind a TLS proxy"
		if inmate {
			listener = fmt.Sprintf("bind_address %q", h.BindAddr)
			rightsKey = "auth_token"
			requireCreds = "set auth_token to require a token"
			useTLS = "put a TLS proxy in front, or use the native TOML format (ssl-combined-pem)"
		}
		switch h.Auth.Mode {
		case "pass-through":
			if outs := withCredentials(h.AllOutputs()); len(outs) > 0 {
				w = append(w, fmt.Sprintf("%s: no client is checked (auth mode \"pass-through\"), and these outputs "+
					"carry credentials: %s. Anyone who reaches %s can write through them without credentials of their own "+
					"(reads and statements carry only the client's own credentials); %s",
					listener, strings.Join(outs, ", "), h.BindAddr, requireCreds))
			}
		case "gateway":
			if h.SSLCombinedPEM == "" && h.TLSCert == "" && !isLoopbackBind(h.BindAddr) {
				w = append(w, fmt.Sprintf("%s: clients prove who they are (auth mode \"gateway\") over plain HTTP: "+
					"their passwords and tokens cross the network readable; %s", listener, useTLS))
			}
			if d := defaultRightsHolders(h.Auth); d != "" {
				choose := "set rights = [...] per user and token-rights = [...] (\"read\", \"write\", \"admin\") to choose"
				if inmate {
					d, choose = "the token's holders", "the native TOML format can grant more ([http.auth] token-rights)"
				}
				w = append(w, fmt.Sprintf("%s: no rights named for %s: they get the default (%s), so no admin statements "+
					"(CREATE/DROP DATABASE, users, grants, retention policies, continuous queries); %s",
					rightsKey, d, DefaultRights, choose))
			}
		}
	}
	for i, u := range c.UDP {
		var https []OutputConfig
		for _, o := range u.Outputs {
			if o.IsHTTP() {
				https = append(https, o)
			}
		}
		if outs := withCredentials(https); len(outs) > 0 {
			w = append(w, fmt.Sprintf("udp[%d] (%q, bind-addr %q): UDP has no authentication, and these outputs carry credentials: %s. "+
				"Anyone who can send a datagram to %s writes into database %q with them",
				i, u.Name, u.BindAddr, strings.Join(outs, ", "), u.BindAddr, u.Database))
		}
	}
	return w
}

// withCredentials names the outputs that carry credentials of their own:
// username/password, token, or a user in the location's URL.
func withCredentials(outs []OutputConfig) []string {
	var names []string
	for _, o := range outs {
		if o.HasCredentials() {
			names = append(names, fmt.Sprintf("%q", o.Name))
		}
	}
	return names
}

// HasCredentials reports whether the output carries credentials of its
// own: username/password, a token, or user information in the location's
// URL.
func (o OutputConfig) HasCredentials() bool {
	if o.Username != "" || o.Password != "" || o.Token != "" {
		return true
	}
	u, err := o.Location.URL()
	return err == nil && u.User != nil
}

// defaultRightsHolders names the users and tokens that get DefaultRights
// because their config names none, or "" when all name theirs.
func defaultRightsHolders(a AuthConfig) string {
	var names []string
	for _, u := range a.Users {
		if u.Rights == 0 {
			names = append(names, fmt.Sprintf("user %q", u.Username))
		}
	}
	if len(a.Tokens) > 0 && a.TokenRights == 0 {
		names = append(names, "the tokens")
	}
	return strings.Join(names, ", ")
}

// isLoopbackBind reports whether a bind-addr accepts only local clients.
func isLoopbackBind(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
