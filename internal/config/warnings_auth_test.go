package config

import (
	"strings"
	"testing"
)

// check-config warns about configs open to more people than their author
// may think, and says nothing about ones that are not.
func TestAuthWarnings(t *testing.T) {
	const outputs = `output = [{ name = "a", location = "http://db1:8086/write" }, OUT]`
	listener := func(bind, extra, out string) string {
		return "[[http]]\nbind-addr = \"" + bind + "\"\n" + strings.Replace(outputs, "OUT", out, 1) + "\n" + extra
	}
	gateway := "[http.auth]\nmode = \"gateway\"\n"
	tests := []struct {
		name string
		file string
		want string // "" = no warning
	}{
		{"pass-through, output without credentials", listener("0.0.0.0:9096", "", `{ name = "b", location = "http://db2:8086/write" }`), ""},
		{"pass-through, output with username", listener("0.0.0.0:9096", "",
			`{ name = "b", location = "http://db2:8086/write", username = "u", password = "s3cr3t" }`),
			`http[0] ("http", bind-addr "0.0.0.0:9096"): no client is checked (auth mode "pass-through"), and these outputs carry credentials: "b". Anyone who reaches 0.0.0.0:9096 can write through them`},
		{"pass-through, influxdb-relay's http-user", listener("127.0.0.1:9096", "",
			`{ name = "b", location = "http://db2:8086/write", http-user = "u", http-pass = "s3cr3t" }`),
			`these outputs carry credentials: "b". Anyone who reaches 127.0.0.1:9096`},
		{"pass-through, token", listener("127.0.0.1:9096", "", `{ name = "b", location = "http://db2:8086/api/v2/write", token = "s3cr3t" }`),
			`carry credentials: "b".`},
		{"pass-through, user in the URL", listener("127.0.0.1:9096", "", `{ name = "b", location = "http://u:s3cr3t@db2:8086/write" }`),
			`carry credentials: "b".`},
		{"gateway on loopback with rights", listener("127.0.0.1:9096", gateway+
			`users = [{ username = "u", password = "p", rights = ["read"] }]`+"\n", `{ name = "b", location = "http://db2:8086/write", username = "u", password = "s3cr3t" }`), ""},
		{"gateway over plain HTTP on all interfaces", listener(":9096", gateway+
			`users = [{ username = "u", password = "p", rights = ["read"] }]`+"\n", `{ name = "b", location = "http://db2:8086/write" }`),
			`http[0] ("http", bind-addr ":9096"): clients prove who they are (auth mode "gateway") over plain HTTP`},
		{"gateway without rights", listener("localhost:9096", gateway+
			`tokens = ["t"]`+"\n"+`users = [{ username = "u", password = "p" }, { username = "v", password = "p", rights = ["admin"] }]`+"\n",
			`{ name = "b", location = "http://db2:8086/write" }`),
			`http[0].auth: no rights named for user "u", the tokens: they get the default (read, write), so no admin statements`},
		{"udp with a credentialled http output", "[[udp]]\nbind-addr = \"0.0.0.0:8089\"\ndatabase = \"telegraf\"\n" +
			`output = [{ name = "b", location = "http://db2:8086/write", username = "u", password = "s3cr3t" }]`,
			`udp[0] ("udp", bind-addr "0.0.0.0:8089"): UDP has no authentication, and these outputs carry credentials: "b". Anyone who can send a datagram to 0.0.0.0:8089 writes into database "telegraf" with them`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := strings.Join(mustLoad(t, "a.toml", tt.file).Warnings(), "\n")
			if tt.want == "" && w != "" {
				t.Errorf("want no warning, got %s", w)
			}
			if !strings.Contains(w, tt.want) {
				t.Errorf("warnings\n%s\nlack %s", w, tt.want)
			}
			if strings.Contains(w, "s3cr3t") {
				t.Errorf("a warning shows a secret: %s", w)
			}
		})
	}
}

func TestInmateAuthWarningsUseInmatesKeys(t *testing.T) {
	t.Setenv(EnvAuthToken, "")
	w := strings.Join(mustLoad(t, "config.yaml", "addresses:\n  - url: http://a:8086\n    token: s3cr3t\nport: 8080\n").Warnings(), "\n")
	if !strings.Contains(w, `bind_address ":8080": no client is checked`) || !strings.Contains(w, "set auth_token to require a token") {
		t.Errorf("pass-through Inmate with backend tokens: %s", w)
	}
	w = strings.Join(mustLoad(t, "config.yaml", "addresses:\n  - url: http://a:8086\nport: 8080\nauth_token: t\n").Warnings(), "\n")
	if !strings.Contains(w, `auth_token: no rights named for the token's holders: they get the default (read, write)`) ||
		!strings.Contains(w, `bind_address ":8080": clients prove who they are`) {
		t.Errorf("Inmate with auth_token: %s", w)
	}
}

func TestRightsKeys(t *testing.T) {
	base := "[[http]]\nbind-addr = \"127.0.0.1:0\"\noutput = [{ location = \"http://a:1/write\" }]\n[http.auth]\nmode = \"gateway\"\n"
	c := mustLoad(t, "a.toml", base+"tokens = [\"t\"]\ntoken-rights = [\"read\", \"write\"]\n"+
		`users = [{ username = "u", password = "p", rights = ["admin"] }, { username = "v", password = "p" }]`+"\n")
	a := c.HTTP[0].Auth
	if a.TokenRights != RightRead|RightWrite || a.Users[0].Rights != RightAdmin || a.Users[1].Rights != 0 ||
		a.Users[1].Rights.OrDefault() != DefaultRights || !RightAdmin.Has(RightRead|RightWrite) || RightRead.Has(RightWrite) {
		t.Errorf("auth = %+v", a)
	}
	for _, tt := range []struct{ file, want string }{
		{base + "tokens = [\"t\"]\ntoken-rights = []\n", `a.toml:7: http[0].auth.token-rights: name at least one of "read", "write", "admin"`},
		{base + `users = [{ username = "u", password = "p", rights = ["raed"] }]` + "\n", `a.toml:6: http[0].auth.users[0].rights: unknown right "raed": want "read", "write", "admin"`},
		{base + "users = [{ username = \"u\", password = \"p\" }]\ntoken-rights = [\"read\"]\n", `http[0].auth.token-rights: set, but there are no tokens`},
	} {
		if _, err := LoadBytes("a.toml", []byte(tt.file)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %s", err, tt.want)
		}
	}
}
