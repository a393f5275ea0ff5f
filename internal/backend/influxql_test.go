package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// Tests of the operator's InfluxQL methods against real influxd.

func eachVersion(t *testing.T, f func(t *testing.T, v testinflux.Version)) {
	for _, v := range []testinflux.Version{testinflux.V167, testinflux.V1810} {
		t.Run(string(v), func(t *testing.T) { f(t, v) })
	}
}

// clientFor is a client for the output o, closed at the end of the test.
func clientFor(t *testing.T, o config.OutputConfig) *Client {
	t.Helper()
	if o.Name == "" {
		o.Name = "b"
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// withDatabase starts a server of version v with database db and returns
// it with a client for it.
func withDatabase(t *testing.T, v testinflux.Version, db string) (*testinflux.Server, *Client) {
	t.Helper()
	s := testinflux.Start(t, testinflux.Options{Version: v})
	s.CreateDatabase(t, db)
	return s, clientFor(t, config.OutputConfig{Location: config.Location(s.WriteURL()), Timeout: 10 * time.Second})
}

// wantError fails the test unless err is an *Error with the given status,
// class and reason whose message contains msg.
func wantError(t *testing.T, what string, err error, status int, class Class, reason, msg string) *Error {
	t.Helper()
	var be *Error
	if !errors.As(err, &be) || be.Status != status || be.Class != class || be.Reason != reason ||
		!strings.Contains(err.Error(), msg) {
		t.Errorf("%s: error %#v (%v); want status %d, class %v, reason %q, message with %q",
			what, be, err, status, class, reason, msg)
	}
	return be
}

// Query returns one statement's result with exact numbers: nanosecond
// times and 64-bit integers as json.Number, floats as printed, strings and
// booleans as they are. WriteLines wrote them with nanosecond timestamps.
func TestQueryAndWriteLines(t *testing.T) {
	eachVersion(t, func(t *testing.T, v testinflux.Version) {
		s := testinflux.Start(t, testinflux.Options{Version: v})
		c := clientFor(t, config.OutputConfig{Location: config.Location(s.WriteURL()), Timeout: 10 * time.Second})
		ctx := context.Background()
		if err := c.ExecStatement(ctx, "", `CREATE DATABASE "db"; CREATE RETENTION POLICY "week" ON "db" DURATION 7d REPLICATION 1`); err != nil {
			t.Fatal(err)
		}
		now := time.Now().Truncate(time.Hour).UnixNano() + 123456789
		body := fmt.Sprintf("m,host=a i=9223372036854775807i,f=0.1,s=\"x \\\"y\\\"\",b=true %d\nm,host=b i=-1i,f=2.5 %d", now, now+1)
		if err := c.WriteLines(ctx, "db", "week", []byte(body)); err != nil {
			t.Fatal(err)
		}
		res, err := c.Query(ctx, "db", `SELECT * FROM "week"."m" GROUP BY "host"`)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Series) != 2 || res.Series[0].Name != "m" || res.Series[0].Tags["host"] != "a" {
			t.Fatalf("series %+v", res.Series)
		}
		a := res.Series[0]
		row := map[string]any{}
		for i, col := range a.Columns {
			row[col] = a.Values[0][i]
		}
		want := map[string]any{"time": json.Number(fmt.Sprint(now)), "i": json.Number("9223372036854775807"),
			"f": json.Number("0.1"), "s": `x "y"`, "b": true}
		for col, w := range want {
			if row[col] != w {
				t.Errorf("%s = %#v, want %#v", col, row[col], w)
			}
		}
		if res, err := c.Query(ctx, "", "SHOW DATABASES"); err != nil || len(res.Series) != 1 {
			t.Errorf("SHOW DATABASES without a database: %+v, %v", res, err)
		}
	})
}

// What influxd refuses comes back as an *Error that says how: a missing
// database or retention policy (a statement error in a 200 answer, often
// no failure for the caller), a statement that failed otherwise, a query
// that does not parse (400), a point the target refuses (400 partial
// write), and an answer influxd could not print (a float sum of +Inf).
func TestQueryErrors(t *testing.T) {
	eachVersion(t, func(t *testing.T, v testinflux.Version) {
		s, c := withDatabase(t, v, "db")
		ctx := context.Background()
		s.Write(t, "db", "n", "big f=1.7976931348623157e+308 1\nbig f=1.7976931348623157e+308 2\nm i=1i 1")

		_, err := c.Query(ctx, "nope", "SELECT * FROM m")
		wantError(t, "missing database", err, 200, Mismatch, "db_not_found", "database not found: nope")
		_, err = c.Query(ctx, "db", `SELECT * FROM "nope"."m"`)
		wantError(t, "missing retention policy", err, 200, Mismatch, "rp_not_found", "retention policy not found: nope")
		err = c.ExecStatement(ctx, "", `CREATE RETENTION POLICY "r" ON "nope" DURATION 1d REPLICATION 1`)
		wantError(t, "statement on a missing database", err, 200, Mismatch, "db_not_found", "database not found")
		err = c.ExecStatement(ctx, "", `CREATE RETENTION POLICY "day" ON "db" DURATION 1d REPLICATION 1; CREATE RETENTION POLICY "r" ON "db" DURATION 1s REPLICATION 1`)
		wantError(t, "second statement failing", err, 200, Rejected, "statement_error", "retention policy duration must be")
		_, err = c.Query(ctx, "db", "SELEC nothing")
		wantError(t, "parse error", err, 400, Rejected, "bad_request", "HTTP 400: error parsing query")
		_, err = c.Query(ctx, "db", "SHOW MEASUREMENTS; SHOW MEASUREMENTS")
		wantError(t, "two statements", err, 200, Rejected, "unreadable_answer", "want one result, have 2")
		_, err = c.Query(ctx, "db", "SELECT sum(f) FROM big")
		wantError(t, "+Inf sum", err, 200, Rejected, "unreadable_answer", "unsupported value")
		err = c.WriteLines(ctx, "db", "autogen", []byte("m i=1.5 3"))
		wantError(t, "type conflict", err, 400, Rejected, "type_conflict", "HTTP 400: partial write: field type conflict")
		err = c.WriteLines(ctx, "db", "nope", []byte("m i=1i 3"))
		wantError(t, "write to a missing retention policy", err, 500, Mismatch, "rp_not_found", "retention policy not found")
	})
}

// QueryChunked streams an answer in chunks of the size asked for, hands
// each series chunk to fn as it arrives, stops at fn's error and returns it
// as it is, and reports statement errors as Query does.
func TestQueryChunked(t *testing.T) {
	eachVersion(t, func(t *testing.T, v testinflux.Version) {
		s, c := withDatabase(t, v, "db")
		ctx := context.Background()
		var lines []string
		for i := range 25 {
			lines = append(lines, fmt.Sprintf("m,host=h%d v=%di %d", i%2, i, i+1))
		}
		s.Write(t, "db", "n", strings.Join(lines, "\n"))

		var calls, rows int
		hosts := map[string]int{}
		err := c.QueryChunked(ctx, "db", "SELECT * FROM m GROUP BY *", 4, time.Minute, func(se Series) error {
			calls++
			rows += len(se.Values)
			hosts[se.Tags["host"]] += len(se.Values)
			if len(se.Values) > 4 {
				t.Errorf("chunk of %d rows, asked for 4", len(se.Values))
			}
			return nil
		})
		if err != nil || rows != 25 || calls < 7 || hosts["h0"] != 13 || hosts["h1"] != 12 {
			t.Errorf("%v: %d rows in %d calls, per host %v; want 25 rows (13+12) in at least 7 chunks", err, rows, calls, hosts)
		}

		stop := errors.New("enough")
		calls = 0
		err = c.QueryChunked(ctx, "db", "SELECT * FROM m", 1, 0, func(Series) error { calls++; return stop })
		if err != stop || calls != 1 {
			t.Errorf("fn's error: got %v after %d calls, want it as it is after one", err, calls)
		}

		err = c.QueryChunked(ctx, "nope", "SELECT * FROM m", 1, 0, func(Series) error { return nil })
		wantError(t, "missing database", err, 200, Mismatch, "db_not_found", "database not found: nope")
	})
}

// With authentication enabled, the operator's requests carry the output's
// own credentials as writes do: a 1.x user as Basic auth, a token (on 1.8's
// 2.x API, "user:password") or a user as "Token user:password" on an
// /api/v2/write location. Without credentials, or with a wrong password,
// influxd's 401 comes back as a refusal that no retry would change, and the
// password is in no message.
func TestOperatorCredentials(t *testing.T) {
	eachVersion(t, func(t *testing.T, v testinflux.Version) {
		s := testinflux.Start(t, testinflux.Options{Version: v, Auth: true})
		ctx := context.Background()
		outputs := map[string]config.OutputConfig{
			"basic": {Location: config.Location(s.WriteURL()), Username: testinflux.AdminUser, Password: testinflux.AdminPassword},
		}
		if v == testinflux.V1810 {
			outputs["v2 token"] = config.OutputConfig{Location: config.Location(s.URL() + "/api/v2/write"),
				Token: testinflux.AdminUser + ":" + testinflux.AdminPassword}
			outputs["v2 user"] = config.OutputConfig{Location: config.Location(s.URL() + "/api/v2/write"),
				Username: testinflux.AdminUser, Password: testinflux.AdminPassword}
		}
		for name, o := range outputs {
			c := clientFor(t, o)
			db := strings.ReplaceAll(name, " ", "_")
			if err := c.ExecStatement(ctx, "", "CREATE DATABASE "+db); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := c.WriteLines(ctx, db, "autogen", []byte("m v=1 1")); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if res, err := c.Query(ctx, db, "SELECT count(v) FROM m"); err != nil || len(res.Series) != 1 {
				t.Errorf("%s: query %+v, %v", name, res, err)
			}
			err := c.QueryChunked(ctx, db, "SELECT * FROM m", 10, time.Minute, func(Series) error { return nil })
			if err != nil {
				t.Errorf("%s: chunked query: %v", name, err)
			}
		}

		const wrong = "not-the-password"
		for name, o := range map[string]config.OutputConfig{
			"none":           {Location: config.Location(s.WriteURL())},
			"wrong password": {Location: config.Location(s.WriteURL()), Username: testinflux.AdminUser, Password: wrong},
		} {
			c := clientFor(t, o)
			_, err := c.Query(ctx, "", "SHOW DATABASES")
			be := wantError(t, name, err, 401, Mismatch, "unauthorized", "HTTP 401")
			if be != nil && be.Transient() {
				t.Errorf("%s: a 401 is transient", name)
			}
			err = c.WriteLines(ctx, "basic", "autogen", []byte("m v=2 2"))
			wantError(t, name+" write", err, 401, Mismatch, "unauthorized", "HTTP 401")
			err = c.ExecStatement(ctx, "", "CREATE DATABASE x")
			if err == nil || strings.Contains(err.Error(), wrong) {
				t.Errorf("%s: exec: %v", name, err)
			}
		}
	})
}

// A statement that sets a password never shows it in an error.
func TestStatementPasswordsAreRedacted(t *testing.T) {
	s := testinflux.Start(t, testinflux.Options{})
	c := clientFor(t, config.OutputConfig{Location: config.Location(s.WriteURL())})
	ctx := context.Background()
	const secret = "hunter2-secret"
	q := `CREATE USER "u" WITH PASSWORD '` + secret + `' WITH ALL PRIVILEGES`
	if err := c.ExecStatement(ctx, "", q); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE USER "u" WITH PASSWORD '` + secret + `x' WITH ALL PRIVILEGES`, // the user exists with another password
		`SET password FOR "nobody" = '` + secret + `'`,                        // no such user
	} {
		err := c.ExecStatement(ctx, "", q)
		if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("%s: error %v; want one without the password", q, err)
		}
	}
}
