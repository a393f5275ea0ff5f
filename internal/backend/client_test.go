package backend

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/record"
)

type seen struct {
	path  string
	query url.Values
	auth  string
	body  string
}

// recordingBackend is a fake that records each request and answers 204.
func recordingBackend(t *testing.T) (*httptest.Server, chan seen) {
	t.Helper()
	ch := make(chan seen, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- seen{r.URL.Path, r.URL.Query(), r.Header.Get("Authorization"), string(b)}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func TestWriteRequestShapes(t *testing.T) {
	srv, ch := recordingBackend(t)
	cases := []struct {
		name     string
		out      config.OutputConfig
		batch    Batch
		path     string
		query    string
		auth     string
		wantBody string
	}{
		{"v1 passes client u/p", config.OutputConfig{Location: config.Location(srv.URL + "/write")},
			Batch{DB: "db", RP: "rp", Precision: lineproto.Second, Auth: record.Auth{Username: "u", Password: "p"},
				Bodies: [][]byte{[]byte("a v=1 1"), []byte("b v=2 2\n")}},
			"/write", "db=db&p=p&precision=s&rp=rp&u=u", "", "a v=1 1\nb v=2 2\n"},
		{"v1 path defaulted, client token passed", config.OutputConfig{Location: config.Location(srv.URL)},
			Batch{DB: "db", Auth: record.Auth{Header: "Token abc"}, Bodies: [][]byte{[]byte("a v=1 1\n")}},
			"/write", "db=db", "Token abc", "a v=1 1\n"},
		{"v1 backend credentials win, as Basic auth", config.OutputConfig{Location: config.Location(srv.URL + "/write"), Username: "svc", Password: "pw"},
			Batch{DB: "db", Auth: record.Auth{Header: "Token abc", Username: "u"}, Bodies: [][]byte{[]byte("a v=1 1\n")}},
			"/write", "db=db", "Basic c3ZjOnB3", "a v=1 1\n"},
		{"v2 bucket and token", config.OutputConfig{Location: config.Location(srv.URL + "/api/v2/write"), Token: "tok", Org: "acme"},
			Batch{DB: "db", RP: "rp", Precision: lineproto.Millisecond, Org: "client-org", Bodies: [][]byte{[]byte("a v=1 1\n")}},
			"/api/v2/write", "bucket=db%2Frp&org=acme&precision=ms", "Token tok", "a v=1 1\n"},
		{"v2 rescales hours to seconds", config.OutputConfig{Location: config.Location(srv.URL + "/api/v2/write")},
			Batch{DB: "db", Precision: lineproto.Hour, Org: "o", Bodies: [][]byte{[]byte("a v=1 2\n")}},
			"/api/v2/write", "bucket=db&org=o&precision=s", "", "a v=1 7200\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.out.Name = "b"
			cl, err := New(c.out)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			res := cl.Write(context.Background(), &c.batch)
			if res.Class != Accepted {
				t.Fatalf("Write = %+v", res)
			}
			got := <-ch
			if got.path != c.path || got.query.Encode() != c.query || got.auth != c.auth || got.body != c.wantBody {
				t.Errorf("request = %s?%s auth=%q body=%q\nwant      %s?%s auth=%q body=%q",
					got.path, got.query.Encode(), got.auth, got.body, c.path, c.query, c.auth, c.wantBody)
			}
		})
	}
}

// A fault-injecting fake backend that answers like InfluxDB does for a gzip
// body sent without Content-Encoding: 400 with raw bytes, NULs included,
// in X-Influxdb-Error. Go's client refuses such a header; the client must
// still see the 400.
func TestSurvivesNULBytesInResponseHeader(t *testing.T) {
	// Keep-alive, as influxd: the client may send its next request on
	// the same connection.
	rb := newRawBackend(t, func(conn net.Conn, _ int64) bool {
		body := `{"error":"unable to parse '\u001f\u0000\u0000': invalid field format"}`
		_, _ = io.WriteString(conn, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"+
			"X-Influxdb-Error: unable to parse '\x1f\x8b\x08\x00\x00\x00': invalid field format\r\n"+
			"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
		return true
	})
	cl := rb.client(t, 5*time.Second)
	for i := 0; i < 3; i++ { // the connection is reused after such an answer
		res := cl.Write(context.Background(), &Batch{DB: "db", Bodies: [][]byte{[]byte("\x1f\x8b\x08\x00\x00\x00")}})
		if res.Class != Rejected || res.Status != 400 || !strings.Contains(res.Message(), "invalid field format") {
			t.Fatalf("attempt %d: got %v status %d %q, want a 400 rejection", i, res.Class, res.Status, res.Message())
		}
	}
	if n := rb.conns.Load(); n != 1 {
		t.Errorf("%d connections for 3 requests, want 1 (kept alive)", n)
	}
}

func TestBodyParts(t *testing.T) {
	parts, size := bodyParts([][]byte{[]byte("a 1"), nil, []byte("b 2\n"), []byte("c 3")})
	if got := string(bytes.Join(parts, nil)); got != "a 1\nb 2\nc 3\n" || size != int64(len(got)) {
		t.Errorf("bodyParts = %q, size %d", got, size)
	}
}

// A batch of many record bodies goes out byte for byte through the
// vectored write: more parts than one writev takes (1,024), and bodies with
// and without a final newline.
func TestManyBodiesArriveWhole(t *testing.T) {
	srv, ch := recordingBackend(t)
	c, err := New(config.OutputConfig{Name: "a", Location: config.Location(srv.URL + "/write"), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var bodies [][]byte
	var want strings.Builder
	want.WriteString(strings.Repeat("first v=0 0\n", 1000)) // 12 KB: past the 4 KB header buffer
	bodies = append(bodies, []byte(want.String()))
	for i := 1; i <= 3000; i++ {
		line := "m,i=" + strconv.Itoa(i) + " v=" + strconv.Itoa(i) + " " + strconv.Itoa(i)
		if i%2 == 0 {
			bodies = append(bodies, []byte(line+"\n"))
		} else {
			bodies = append(bodies, []byte(line)) // the reader adds the newline
		}
		want.WriteString(line + "\n")
	}
	if res := c.Write(context.Background(), &Batch{DB: "db", Bodies: bodies}); res.Class != Accepted {
		t.Fatalf("write: %+v", res)
	}
	if got := (<-ch).body; got != want.String() {
		t.Fatalf("body differs: got %d bytes, want %d", len(got), want.Len())
	}
}

// Probe counts any answer below 500 as up, and sends the backend's own
// credentials (an influxd with ping-auth-enabled wants them).
func TestProbe(t *testing.T) {
	var status atomic.Int64
	auths := make(chan string, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ping" {
			t.Errorf("probe asked %s", r.URL.Path)
		}
		auths <- r.Header.Get("Authorization")
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	c, err := New(config.OutputConfig{Name: "a", Location: config.Location(srv.URL + "/write"), Username: "svc", Password: "pw", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tt := range []struct {
		status int
		up     bool
	}{{204, true}, {401, true}, {404, true}, {500, false}, {503, false}} {
		status.Store(int64(tt.status))
		err := c.Probe(context.Background())
		if (err == nil) != tt.up {
			t.Errorf("answer %d: Probe = %v, want up %v", tt.status, err, tt.up)
		}
		if a := <-auths; a != "Basic c3ZjOnB3" {
			t.Errorf("answer %d: Authorization %q, want the backend's Basic credentials", tt.status, a)
		}
	}
	srv.Close()
	if err := c.Probe(context.Background()); err == nil {
		t.Error("Probe of a closed server: no error")
	}
}

// Pings and schema changes clean the answer's bytes too, so TLS must run
// beneath the cleaning, also for an https backend verified against the
// system's roots (no TLS setting): the handshake then fails on the test
// server's certificate, not on records the cleaning garbled. With
// skip-tls-verification the ping goes through.
func TestPingOverHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Influxdb-Version", "1.8.10")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for _, skip := range []bool{false, true} {
		c, err := New(config.OutputConfig{Name: "tls", Location: config.Location(srv.URL + "/write"), SkipTLSVerification: skip, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		version, err := c.Ping(context.Background())
		c.Close()
		switch {
		case skip && (err != nil || version != "1.8.10"):
			t.Errorf("skip-tls-verification: Ping = %q, %v", version, err)
		case !skip && (err == nil || !strings.Contains(err.Error(), "certificate")):
			t.Errorf("system roots: Ping = %q, %v; want a certificate error", version, err)
		}
	}
}
