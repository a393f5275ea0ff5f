package auth

import (
	"strings"
	"testing"

	"github.com/influxdata/influxql"

	"github.com/influxgate/influxgate/internal/config"
)

// The refusals and their words are influxd's (1.6.7 and 1.8.10 answer
// the same for a user with the matching grants), with influxgate's
// global rights in place of per-database grants.
func TestAuthorizeQuery(t *testing.T) {
	admin := "requires admin privilege"
	cases := []struct {
		rights config.Rights
		q      string
		want   string // "" = allowed; else the end of the refusal
	}{
		{config.RightRead, "SELECT * FROM m", ""},
		{config.RightRead, "SHOW DATABASES", ""},
		{config.RightRead, "SHOW MEASUREMENTS", ""},
		{config.RightWrite, "SELECT * FROM m", "'SELECT * FROM m', requires READ on db"},
		{config.RightRead, "SELECT * INTO m2 FROM m", "'SELECT * INTO m2 FROM m', requires WRITE on db"},
		{config.RightRead | config.RightWrite, "SELECT * INTO m2 FROM m", ""},
		{config.RightRead, "DELETE FROM m", "'DELETE FROM m', requires WRITE on db"},
		{config.RightWrite, "DELETE FROM m", ""},
		{config.DefaultRights, "CREATE DATABASE x", "'CREATE DATABASE x', " + admin},
		{config.DefaultRights, "DROP DATABASE db", "'DROP DATABASE db', " + admin},
		{config.DefaultRights, "CREATE USER evil WITH PASSWORD 's3cr3t' WITH ALL PRIVILEGES",
			"'CREATE USER evil WITH PASSWORD [REDACTED] WITH ALL PRIVILEGES', " + admin},
		{config.DefaultRights, "SET PASSWORD FOR admin = 's3cr3t'", admin},
		{config.DefaultRights, "GRANT ALL TO evil", admin},
		{config.DefaultRights, "SHOW USERS", "'SHOW USERS', " + admin},
		{config.DefaultRights, "DROP MEASUREMENT m", admin},
		{config.DefaultRights, "KILL QUERY 1", admin},
		{config.DefaultRights, "SELECT * FROM m; CREATE DATABASE y", "'CREATE DATABASE y', " + admin},
		{config.RightAdmin, "CREATE USER evil WITH PASSWORD 'x' WITH ALL PRIVILEGES", ""},
		{config.RightAdmin, "SELECT * INTO m2 FROM m; DROP DATABASE db", ""},
	}
	for _, c := range cases {
		q, err := influxql.ParseQuery(c.q)
		if err != nil {
			t.Fatal(err)
		}
		err = Principal{Name: "u", Rights: c.rights}.AuthorizeQuery(q, "db")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s with %s: refused: %v", c.q, c.rights, err)
		case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), "error authorizing query: u not authorized to execute statement ") ||
			!strings.HasSuffix(err.Error(), c.want)):
			t.Errorf("%s with %s: %v, want ...%s", c.q, c.rights, err, c.want)
		case err != nil && strings.Contains(err.Error(), "s3cr3t"):
			t.Errorf("refusal shows the password: %v", err)
		}
	}
}
