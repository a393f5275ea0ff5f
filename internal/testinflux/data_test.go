package testinflux

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeRP posts line protocol to a named retention policy (Write has no rp
// parameter).
func writeRP(t *testing.T, s *Server, db, rp, precision, body string) {
	t.Helper()
	v := url.Values{"db": {db}, "rp": {rp}, "precision": {precision}}
	resp, err := http.Post(s.WriteURL()+"?"+v.Encode(), "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write rp=%s: %d %s", rp, resp.StatusCode, b)
	}
}

func TestPointsCanonicalForm(t *testing.T) {
	t.Parallel()
	body := strings.Join([]string{
		`cpu,host=a,region=us\ west value=1.5,count=3i,msg="say \"hi\", ok",path="C:\\tmp",ok=true 1700000000`,
		`cpu,host=b value=2 1700000001`,
		`cpu,host=b big=9223372036854775807i,neg=-0.00001,huge=1e30,no=false,value=3 1700000002`,
		`disk\ io,dev=sda1 reads=10i 1700000002`,
		`weird\,m,t\=k=v\,1\ x f\=x=0.25 1700000003`,
	}, "\n")
	want := []string{
		`"one week".cpu,host=c value=9 1700000004000000000`,
		`"one week".only_here n=1i 1700000005000000000`,
		`cpu,host=a,region=us\ west count=3i,msg="say \"hi\", ok",ok=true,path="C:\\tmp",value=1.5 1700000000000000000`,
		`cpu,host=b big=9223372036854775807i,huge=1e+30,neg=-0.00001,no=false,value=3 1700000002000000000`,
		`cpu,host=b value=2 1700000001000000000`,
		`disk\ io,dev=sda1 reads=10i 1700000002000000000`,
		`weird\,m,t\=k=v\,1\ x f\=x=0.25 1700000003000000000`,
	}
	eachVersion(t, func(t *testing.T, v Version) {
		s := Start(t, Options{Version: v})
		s.CreateDatabase(t, "db")
		s.Exec(t, `CREATE RETENTION POLICY "one week" ON "db" DURATION INF REPLICATION 1`)
		s.Write(t, "db", "s", body)
		writeRP(t, s, "db", "one week", "s", "cpu,host=c value=9 1700000004\nonly_here n=1i 1700000005\n")

		got := s.Points(t, "db")
		if !slices.Equal(got, want) {
			t.Fatalf("Points =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}

		// The default policy's lines are valid line protocol: written to
		// another server, they read back identically.
		var plain []string
		for _, p := range got {
			if !strings.HasPrefix(p, `"`) {
				plain = append(plain, p)
			}
		}
		b := Start(t, Options{Version: v})
		b.CreateDatabase(t, "db")
		b.Write(t, "db", "", strings.Join(plain, "\n"))
		if again := b.Points(t, "db"); !slices.Equal(again, plain) {
			t.Errorf("round trip through a second server:\n%s\nwant\n%s", strings.Join(again, "\n"), strings.Join(plain, "\n"))
		}

		if n := s.Count(t, "db", "cpu"); n != 3 {
			t.Errorf("Count(cpu) = %d, want 3 (default policy only)", n)
		}
		if n := s.Count(t, "db", "weird,m"); n != 1 {
			t.Errorf("Count(weird,m) = %d, want 1", n)
		}
		if n := s.Count(t, "db", "absent"); n != 0 {
			t.Errorf("Count(absent) = %d, want 0", n)
		}
		if n := s.Count(t, "nodb", "cpu"); n != 0 {
			t.Errorf("Count in a missing database = %d, want 0", n)
		}
		if p := s.Points(t, "nodb"); p != nil {
			t.Errorf("Points of a missing database = %q, want none", p)
		}

		r := s.Query(t, "db", `SELECT value FROM cpu WHERE host = 'b' AND time < 1700000002s; SELECT * FROM nope`)
		if r.Status != http.StatusOK || len(r.Results) != 2 || r.Err() != nil {
			t.Fatalf("Query = %d %s", r.Status, r.Body)
		}
		wantRow := []any{json.Number("1700000001000000000"), json.Number("2")}
		if se := r.Results[0].Series; len(se) != 1 || se[0].Name != "cpu" || len(se[0].Values) != 1 ||
			!slices.Equal(se[0].Values[0], wantRow) || !slices.Equal(se[0].Columns, []string{"time", "value"}) {
			t.Errorf("Query result 0 = %+v, want one row %v", r.Results[0], wantRow)
		}
		if len(r.Results[1].Series) != 0 {
			t.Errorf("Query result 1 = %+v, want no series", r.Results[1])
		}
		r = s.Query(t, "nodb", "SELECT * FROM cpu")
		if err := r.Err(); err == nil || !strings.Contains(err.Error(), "database not found") {
			t.Errorf("Err() for a missing database = %v", err)
		}
	})
}

// TestPointsLargeSeries checks that Points and Count see every point of a
// series longer than influxd's internal chunk size (10,000 rows).
func TestPointsLargeSeries(t *testing.T) {
	t.Parallel()
	const n = 25001
	var body strings.Builder
	for i := range n {
		fmt.Fprintf(&body, "big,s=x v=%di %d\n", i, i)
	}
	eachVersion(t, func(t *testing.T, v Version) {
		s := Start(t, Options{Version: v})
		s.CreateDatabase(t, "db")
		s.Write(t, "db", "", body.String())
		if got := s.Count(t, "db", "big"); got != n {
			t.Errorf("Count = %d, want %d", got, n)
		}
		pts := s.Points(t, "db")
		if len(pts) != n {
			t.Fatalf("Points has %d points, want %d", len(pts), n)
		}
		if !slices.Contains(pts, fmt.Sprintf("big,s=x v=%di %d", n-1, n-1)) {
			t.Errorf("the last point is missing")
		}
	})
}

func TestAuth(t *testing.T) {
	t.Parallel()
	eachVersion(t, func(t *testing.T, v Version) {
		s := Start(t, Options{Version: v, Auth: true})
		if u, p := s.Credentials(); u != AdminUser || p != AdminPassword {
			t.Fatalf("Credentials() = %q, %q", u, p)
		}
		q := url.Values{"q": {"SHOW DATABASES"}}.Encode()
		if got := status(t, http.MethodPost, s.URL()+"/query", q); got != http.StatusUnauthorized {
			t.Errorf("query without credentials = %d, want 401", got)
		}
		if got := status(t, http.MethodGet, s.URL()+"/ping", ""); got != http.StatusNoContent {
			t.Errorf("/ping without credentials = %d, want 204", got)
		}
		// The helpers use the admin user.
		s.CreateDatabase(t, "db")
		s.Write(t, "db", "", "m v=1 1\n")
		if n := s.Count(t, "db", "m"); n != 1 {
			t.Errorf("Count = %d, want 1", n)
		}
		// After a wipe the admin user is created again.
		s.Wipe(t)
		s.Restart(t)
		s.CreateDatabase(t, "db2")
		if got := status(t, http.MethodPost, s.URL()+"/query", q); got != http.StatusUnauthorized {
			t.Errorf("query without credentials after Wipe = %d, want 401", got)
		}
	})
}

func TestAuthNoAdmin(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Auth: true, NoAdmin: true})
	if u, _ := s.Credentials(); u != "" {
		t.Fatalf("Credentials() user = %q, want none", u)
	}
	q := url.Values{"q": {"SHOW DATABASES"}}.Encode()
	if got := status(t, http.MethodPost, s.URL()+"/query", q); got != http.StatusForbidden {
		t.Errorf("query before any user exists = %d, want 403", got)
	}
	s.Exec(t, `CREATE USER "boss" WITH PASSWORD 'pw' WITH ALL PRIVILEGES`)
	if got := status(t, http.MethodPost, s.URL()+"/query", q); got != http.StatusUnauthorized {
		t.Errorf("query without credentials = %d, want 401", got)
	}
	s.SetCredentials("boss", "pw")
	s.CreateDatabase(t, "db")
}

func TestUDP(t *testing.T) {
	t.Parallel()
	eachVersion(t, func(t *testing.T, v Version) {
		s := Start(t, Options{Version: v, UDP: &UDPOptions{Database: "udpdb", Precision: "s"}})
		if s.UDPAddr() == "" || s.UDPAddr() == s.Addr() {
			t.Fatalf("UDPAddr() = %q (HTTP %s)", s.UDPAddr(), s.Addr())
		}
		c, err := net.Dial("udp", s.UDPAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("udpm,src=x v=1i 1700000000\nudpm,src=y v=2i 1700000000\n")); err != nil {
			t.Fatal(err)
		}
		s.WaitCount(t, "udpdb", "udpm", 2, 10*time.Second)
		want := []string{"udpm,src=x v=1i 1700000000000000000", "udpm,src=y v=2i 1700000000000000000"}
		if got := s.Points(t, "udpdb"); !slices.Equal(got, want) {
			t.Errorf("Points = %q, want %q", got, want)
		}
	})
}

func TestFlux(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Version: V1810, Flux: true})
	s.CreateDatabase(t, "db")
	s.Write(t, "db", "s", "fm,t=a v=42i 1700000000\n")
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/api/v2/query",
		strings.NewReader(`from(bucket: "db/autogen") |> range(start: 0) |> filter(fn: (r) => r._measurement == "fm")`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.flux")
	req.Header.Set("Accept", "application/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("/api/v2/query = %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	if !strings.Contains(string(b), ",2023-11-14T22:13:20Z,42,v,fm,a") {
		t.Errorf("Flux CSV lacks the point:\n%s", b)
	}
}
