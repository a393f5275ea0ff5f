package config

import "testing"

// A token, user name or password that is empty once trimmed is no secret
// (" " as a token lets in anyone who sends p=%20): Validate refuses it, and
// Load names the key and its line, as check-config prints it. A token with
// surrounding whitespace is refused too: clients trim it from
// "Authorization: Token ...", so it would work in some forms only.
func TestBlankCredentialsAreRefused(t *testing.T) {
	gateway := func(a AuthConfig) func(*Config) {
		return func(c *Config) {
			a.Mode = "gateway"
			c.HTTP[0].Auth = a
		}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		key    string
		want   string
	}{
		{"whitespace-only token", gateway(AuthConfig{Tokens: []string{"good", " \t "}}),
			"http[0].auth.tokens[1]", "must not be empty or only whitespace"},
		{"token with a trailing space", gateway(AuthConfig{Tokens: []string{"s3cret "}}),
			"http[0].auth.tokens[0]", "leading or trailing whitespace"},
		{"token with a leading newline", gateway(AuthConfig{Tokens: []string{"\ns3cret"}}),
			"http[0].auth.tokens[0]", "leading or trailing whitespace"},
		{"whitespace-only user name", gateway(AuthConfig{Users: []UserAuth{{Username: "  ", Password: "p"}}}),
			"http[0].auth.users[0].username", "must not be empty or only whitespace"},
		{"whitespace-only password", gateway(AuthConfig{Users: []UserAuth{{Username: "u", Password: "\t"}}}),
			"http[0].auth.users[0].password", "must not be empty or only whitespace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			probs := FieldErrors(c.Validate())
			if len(probs) != 1 {
				t.Errorf("want exactly one problem, got %d: %v", len(probs), probs)
			}
			wantMsg(t, problemFor(t, probs, tc.key), tc.want)
		})
	}
	// Passwords may have surrounding spaces (Basic auth carries them).
	c := validConfig()
	gateway(AuthConfig{Users: []UserAuth{{Username: "u", Password: " pass phrase "}}})(&c)
	if err := c.Validate(); err != nil {
		t.Errorf("a password with surrounding spaces: %v", err)
	}
}

func TestBlankCredentialsNameKeyAndLine(t *testing.T) {
	const text = `data-dir = "/var/lib/influxgate"

[[http]]
name = "h"
bind-addr = "127.0.0.1:9096"
output = [ { name = "a", location = "http://127.0.0.1:8086/write" } ]

[http.auth]
mode = "gateway"
tokens = [
  "good",
  "   ",
  "",
]
users = [
  { username = " ", password = "p" },
  { username = "u", password = "	" },
]
`
	probs := loadProblems(t, "gw.toml", text)
	for key, want := range map[string]string{
		"http[0].auth.tokens[1]":         "gw.toml:12: http[0].auth.tokens[1]: must not be empty or only whitespace",
		"http[0].auth.tokens[2]":         "gw.toml:13: http[0].auth.tokens[2]: must not be empty or only whitespace",
		"http[0].auth.users[0].username": "gw.toml:16: http[0].auth.users[0].username: must not be empty or only whitespace",
		"http[0].auth.users[1].password": "gw.toml:17: http[0].auth.users[1].password: must not be empty or only whitespace",
	} {
		if got := problemFor(t, probs, key).Error(); got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
	if len(probs) != 4 {
		t.Errorf("want 4 problems, got %d: %v", len(probs), probs)
	}

	// Inmate: a blank auth_token is reported as auth_token with its line.
	t.Setenv(EnvAuthToken, "")
	probs = loadProblems(t, "config.yaml", "urls: [\"http://h:8086\"]\nport: 8080\nauth_token: \"  \"\n")
	wantMsg(t, problemFor(t, probs, "auth_token"), "config.yaml:3: auth_token: must not be empty or only whitespace")
}
