// Package backend talks to one InfluxDB server: it builds write requests for
// the 1.x (/write) or 2.x (/api/v2/write) API with the right credentials,
// sends them over keep-alive connections of its own (wire.go: net/http's
// Transport costs the relay's one core a goroutine hand-off each way per
// request), and classifies the answers (classify.go) into accepted,
// rejected as bad data, refused for a replica-specific reason, too large,
// or transient. It is the one client for an InfluxDB server in influxgate:
// the relay's writes and schema changes (client.go, query.go), the query
// gateway's reads (DoQuery), and the InfluxQL requests of the operator
// tools — verify, resync — with the output's own credentials
// (influxql.go). Everything but the writes goes through net/http.
package backend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/influxerr"
	"github.com/influxgate/influxgate/internal/lineproto"
	"github.com/influxgate/influxgate/internal/record"
)

var jsonUnmarshal = json.Unmarshal

// API is the write API a backend speaks.
type API uint8

const (
	APIv1 API = 1 // POST /write?db=&rp=
	APIv2 API = 2 // POST /api/v2/write?org=&bucket=
)

// maxResponseBody bounds how much of a response body is kept; InfluxDB's
// write answers are tiny, so anything larger is drained and cut.
const maxResponseBody = 64 << 10

// Client sends requests to one InfluxDB server. Its methods may be called
// from several goroutines.
type Client struct {
	name     string
	api      API
	writeURL url.URL // location as configured
	baseURL  url.URL // scheme://host[/prefix], without the write path
	timeout  time.Duration
	creds    config.OutputConfig // Username, Password, Token, Org
	wire     *wirePool           // writes (wire.go)
	hc       *http.Client        // schema changes and pings
	qc       *http.Client        // reads proxied for clients
	oc       *http.Client        // InfluxQL of the operator tools (influxql.go)
}

// New builds a client for an [[http]] output.
func New(o config.OutputConfig) (*Client, error) {
	u, err := o.Location.URL()
	if err != nil {
		return nil, fmt.Errorf("output %q: location: %w", o.Name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("output %q: location %q is not an http(s) URL", o.Name, o.Location)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/write"
	}
	c := &Client{name: o.Name, api: APIv1, writeURL: *u, baseURL: *u, timeout: o.Timeout, creds: o}
	switch {
	case strings.HasSuffix(u.Path, "/api/v2/write"):
		c.api = APIv2
		c.baseURL.Path = strings.TrimSuffix(u.Path, "/api/v2/write")
	case strings.HasSuffix(u.Path, "/write"):
		c.baseURL.Path = strings.TrimSuffix(u.Path, "/write")
	}
	c.baseURL.RawQuery = ""
	if c.timeout <= 0 {
		c.timeout = 10 * time.Second
	}
	tlsConf, err := TLSConfig(o)
	if err != nil {
		return nil, err
	}
	c.wire = newWirePool(u, tlsConf)
	c.hc = &http.Client{Transport: newTransport(tlsConf, true)}
	qt := newTransport(tlsConf, false)
	qt.ResponseHeaderTimeout = c.timeout
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.qc = &http.Client{Transport: qt, CheckRedirect: noRedirect}
	// The operator's queries may rightly take minutes before the first
	// byte of the answer (a SELECT over a large window): no header
	// timeout, the caller's context bounds them. Answers are kept byte
	// for byte (no sanitizing: a string value may hold a DEL byte), and a
	// redirect is not followed with the output's credentials.
	c.oc = &http.Client{Transport: newTransport(tlsConf, false), CheckRedirect: noRedirect}
	return c, nil
}

// Name is the output's configured name.
func (c *Client) Name() string { return c.name }

// API is the write API the backend is addressed with.
func (c *Client) API() API { return c.api }

// BaseURL is the server's URL without the write path, for /ping and /query.
// User information in the location is left out: credentials travel in the
// headers SetCredentials and SetClientCredentials set, never by accident.
func (c *Client) BaseURL() string {
	u := c.baseURL
	u.User = nil
	return u.String()
}

// String names the backend and its address for messages, e.g.
// "b (http://db2:8086)"; user information in the location is left out.
func (c *Client) String() string {
	u := c.baseURL
	u.User = nil
	return c.name + " (" + u.String() + ")"
}

// Close releases idle connections.
func (c *Client) Close() {
	c.wire.close()
	c.hc.CloseIdleConnections()
	c.qc.CloseIdleConnections()
	c.oc.CloseIdleConnections()
}

// DoQuery sends a read for a client (the query gateway streams the answer
// back). The wait for the answer's headers is bounded by the output's
// timeout; the body by the request's context.
func (c *Client) DoQuery(req *http.Request) (*http.Response, error) { return c.qc.Do(req) }

// TLSConfig is how an output's https backend is verified: against the
// system roots (nil), a ca-file, or not at all (skip-tls-verification).
func TLSConfig(o config.OutputConfig) (*tls.Config, error) {
	if !o.SkipTLSVerification && o.CAFile == "" {
		return nil, nil
	}
	tc := &tls.Config{InsecureSkipVerify: o.SkipTLSVerification} //nolint:gosec // operator's explicit choice
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("output %q: ca-file: %w", o.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("output %q: ca-file %s: no certificates found", o.Name, o.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// newTransport builds a keep-alive pool. With sanitize, response bytes are
// cleaned of control characters before net/http parses them: InfluxDB
// echoes raw request bytes (NULs included) into X-Influxdb-Error, which Go's
// client refuses as a malformed header, losing the status that says the
// data was bad. Write responses have no bodies worth keeping byte-exact
// (InfluxDB JSON-escapes its error bodies), so cleaning is safe there; the
// query path uses a transport without it.
func newTransport(tc *tls.Config, sanitize bool) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 nil, // backends are addressed directly
		TLSClientConfig:       tc,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	t.DialContext = d.DialContext
	if sanitize {
		t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return sanitizingConn{conn}, nil
		}
		// DialTLSContext takes over TLS so the cleaning sees plaintext;
		// without it the Transport would run TLS over the cleaned bytes.
		t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			tconn, err := dialTLS(ctx, d, tc, addr)
			if err != nil {
				return nil, err
			}
			return sanitizingConn{tconn}, nil
		}
	}
	return t
}

// dialTLS dials addr and completes a TLS handshake with tc (the system's
// roots when tc is nil), naming the server after addr's host unless tc
// names one.
func dialTLS(ctx context.Context, d *net.Dialer, tc *tls.Config, addr string) (*tls.Conn, error) {
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{}
	if tc != nil {
		cfg = tc.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	tconn := tls.Client(conn, cfg)
	if err := tconn.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tconn, nil
}

// sanitizingConn replaces control bytes other than tab, CR and LF in what
// it reads with '?'.
type sanitizingConn struct{ net.Conn }

func (c sanitizingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for i, b := range p[:n] {
		if (b < 0x20 && b != '\t' && b != '\r' && b != '\n') || b == 0x7f {
			p[i] = '?'
		}
	}
	return n, err
}

// Batch is one write request: the bodies of one or more records with the
// same destination, precision and credentials, sent as one body.
type Batch struct {
	DB, RP, Org string
	Precision   lineproto.Precision
	Auth        record.Auth
	Bodies      [][]byte
}

// Write sends b and classifies the answer.
func (c *Client) Write(ctx context.Context, b *Batch) Result {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	head, parts, err := c.writeRequest(b)
	if err != nil {
		// Only a body that cannot be rescaled gets here: bad data.
		return Result{Class: Rejected, Status: http.StatusBadRequest, Reason: "bad_data",
			Body: influxerr.Body(err.Error())}
	}
	status, hdr, body, cut, err := c.wire.do(ctx, head, parts)
	if err != nil {
		// Named as net/http's client names a failed request; Redact (in
		// Classify) drops the query and any user information.
		return Classify(0, nil, nil, &url.Error{Op: "Post", URL: c.writeURL.String(), Err: err})
	}
	if cut {
		body = closeCutError(body)
	}
	return Classify(status, body, hdr, nil)
}

// writeRequest builds the head of b's request (request line and headers,
// up to the blank line) and the parts of its body.
func (c *Client) writeRequest(b *Batch) (head []byte, parts [][]byte, err error) {
	u := c.writeURL
	q := u.Query()
	bodies := b.Bodies
	switch c.api {
	case APIv1:
		q.Set("db", b.DB)
		if b.RP != "" {
			q.Set("rp", b.RP)
		}
		if b.Precision != lineproto.Nanosecond {
			q.Set("precision", b.Precision.V1())
		}
	case APIv2:
		bucket := b.DB
		if b.RP != "" {
			bucket += "/" + b.RP
		}
		q.Set("bucket", bucket)
		org := c.creds.Org
		if org == "" {
			org = b.Org
		}
		if org != "" {
			q.Set("org", org)
		}
		p, ok := b.Precision.V2()
		if !ok {
			// 2.x knows no minute or hour precision: rescale to seconds.
			bodies = make([][]byte, len(b.Bodies))
			for i, body := range b.Bodies {
				out, err := lineproto.Rescale(nil, body, b.Precision, lineproto.Second)
				if err != nil {
					return nil, nil, err
				}
				bodies[i] = out
			}
			p, _ = lineproto.Second.V2()
		}
		if p != "ns" {
			q.Set("precision", p)
		}
	}
	hdr := make(http.Header, 4)
	c.SetCredentials(hdr, q, b.Auth)
	u.RawQuery = q.Encode()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("User-Agent", "influxgate")
	parts, size := bodyParts(bodies)

	head = make([]byte, 0, 256)
	head = append(head, "POST "...)
	head = append(head, u.RequestURI()...)
	head = append(head, " HTTP/1.1\r\nHost: "...)
	head = append(head, u.Host...)
	head = append(head, "\r\n"...)
	hw := headWriter{head}
	if err := hdr.Write(&hw); err != nil {
		return nil, nil, err
	}
	return appendContentLength(hw.b, size), parts, nil
}

// headWriter collects a request head as http.Header.Write writes it.
type headWriter struct{ b []byte }

func (w *headWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *headWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}

// Ping asks GET /ping and returns the server's X-Influxdb-Version.
func (c *Client) Ping(ctx context.Context) (string, error) {
	status, version, err := c.ping(ctx)
	if err != nil {
		return "", err
	}
	if status/100 != 2 {
		return "", fmt.Errorf("/ping answered %d %s", status, http.StatusText(status))
	}
	return version, nil
}

// Probe tells whether the server is up: it asks GET /ping, with this
// backend's own credentials if it has any, and fails on no answer or a
// 5xx. Any other answer counts as up: an influxd with ping-auth-enabled
// answers 401 to a relay that passes clients' credentials through, and
// it is no less able to take writes for that.
func (c *Client) Probe(ctx context.Context) error {
	status, _, err := c.ping(ctx)
	if err != nil {
		return Redact(err)
	}
	if status >= 500 {
		return fmt.Errorf("/ping answered %d %s", status, http.StatusText(status))
	}
	return nil
}

func (c *Client) ping(ctx context.Context) (status int, version string, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.baseURL
	u.Path += "/ping"
	q := u.Query()
	hdr := make(http.Header)
	c.SetCredentials(hdr, q, record.Auth{})
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, "", err
	}
	req.Header = hdr
	req.Header.Set("User-Agent", "influxgate")
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	_, _, _ = readBounded(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Influxdb-Version"), nil
}

// readBounded reads at most maxResponseBody bytes; cut reports that the
// answer went on.
func readBounded(r io.Reader) (body []byte, cut bool, err error) {
	body, err = io.ReadAll(io.LimitReader(r, maxResponseBody+1))
	if len(body) > maxResponseBody {
		body, cut = body[:maxResponseBody], true
	}
	if err == nil {
		// Drain a little more so the connection can be reused.
		_, _ = io.CopyN(io.Discard, r, 256<<10)
	}
	if len(body) == 0 {
		// ReadAll's first buffer: an empty answer (every 204) must not
		// keep half a kilobyte alive wherever the result is remembered.
		body = nil
	}
	return body, cut, err
}

// closeCutError makes InfluxDB's JSON error, cut at maxResponseBody (it
// quotes every line it could not parse, so it can be as large as the
// write), valid JSON again for the client: the message as far as it was
// read, marked as cut. A body that is not such an error is left as it is.
func closeCutError(body []byte) []byte {
	// The cut may have split an escape sequence (at most 6 bytes, \uXXXX):
	// drop up to that much before closing the string.
	for k := 0; k <= 6 && k < len(body); k++ {
		var e struct {
			Error string `json:"error"`
		}
		closed := append(body[:len(body)-k:len(body)-k], `"}`...)
		if jsonUnmarshal(closed, &e) == nil && e.Error != "" {
			return influxerr.Body(e.Error + fmt.Sprintf(" … (cut by influxgate at %d bytes)", maxResponseBody))
		}
	}
	return body
}
