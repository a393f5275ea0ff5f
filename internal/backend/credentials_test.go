package backend

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/record"
)

// Which credentials a statement carries to the backend: the output's only
// when the gateway authorised it (record.FlagGatewayAuthorized), else only
// the client's own — a record without the flag (pass-through, or written
// before the flag existed) never borrows the output's privileges. Writes
// keep using the output's. A user in the location's URL counts as the
// output's credentials like username/password.
func TestCredentialsByWhoAuthorised(t *testing.T) {
	srv, ch := recordingBackend(t)
	svc := "Basic " + base64.StdEncoding.EncodeToString([]byte("svc:pw"))
	host := strings.TrimPrefix(srv.URL, "http://")
	outputs := map[string]config.OutputConfig{
		"username/password": {Name: "b", Location: config.Location(srv.URL + "/write"), Username: "svc", Password: "pw"},
		"user in the URL":   {Name: "b", Location: config.Location("http://svc:pw@" + host + "/write")},
	}
	client := record.Auth{Username: "alice", Password: "alices"}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			c, err := New(out)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			cases := []struct {
				name    string
				rec     record.Record
				auth, u string
			}{
				{"pass-through statement, anonymous", record.Record{Kind: record.KindQuery, Body: []byte("CREATE USER evil WITH PASSWORD 'x' WITH ALL PRIVILEGES")}, "", ""},
				{"pass-through statement, client's credentials", record.Record{Kind: record.KindQuery, Auth: client, Body: []byte("CREATE DATABASE x")}, "", "alice"},
				{"gateway-authorised statement", record.Record{Kind: record.KindQuery, Flags: record.FlagGatewayAuthorized, Body: []byte("CREATE DATABASE x")}, svc, ""},
			}
			for _, tc := range cases {
				if res := c.Exec(context.Background(), &tc.rec); res.Class != Accepted {
					t.Fatalf("%s: Exec = %+v", tc.name, res)
				}
				got := <-ch
				if got.auth != tc.auth || got.query.Get("u") != tc.u || got.path != "/query" {
					t.Errorf("%s: %s Authorization %q u %q; want Authorization %q u %q", tc.name, got.path, got.auth, got.query.Get("u"), tc.auth, tc.u)
				}
			}
			// A write, live or replayed, uses the output's credentials.
			if res := c.Write(context.Background(), &Batch{DB: "db", Auth: client, Bodies: [][]byte{[]byte("m v=1 1\n")}}); res.Class != Accepted {
				t.Fatalf("Write = %+v", res)
			}
			if got := <-ch; got.auth != svc || got.query.Has("u") {
				t.Errorf("write: Authorization %q u %q; want the output's", got.auth, got.query.Get("u"))
			}
		})
	}
}
