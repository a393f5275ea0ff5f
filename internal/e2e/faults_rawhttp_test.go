package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawAnswer is an HTTP answer read byte for byte, without net/http's
// checks: InfluxDB puts raw request bytes (NULs included) into
// X-Influxdb-Error, which Go's client refuses to parse.
type rawAnswer struct {
	Status  int
	Headers map[string]string // canonical key -> value, raw bytes kept
	Body    []byte
}

// errText returns the "error" of a JSON error body.
func (r rawAnswer) errText() string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error
}

// rawRequest sends one request over a new connection (Connection: close)
// and reads the answer leniently. body may be nil; chunked sends it with
// Transfer-Encoding: chunked instead of Content-Length.
func rawRequest(t testing.TB, addr, method, target string, hdr map[string]string, body []byte, chunked bool) rawAnswer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	var req bytes.Buffer
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, addr)
	for k, v := range hdr {
		fmt.Fprintf(&req, "%s: %s\r\n", k, v)
	}
	if chunked {
		req.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	} else {
		fmt.Fprintf(&req, "Content-Length: %d\r\n\r\n", len(body))
	}
	go func() {
		// Write from a goroutine: a server may answer (413) and close
		// before reading everything.
		w := bufio.NewWriterSize(conn, 64<<10)
		_, _ = w.Write(req.Bytes())
		if chunked {
			for len(body) > 0 {
				n := min(len(body), 32<<10)
				fmt.Fprintf(w, "%x\r\n", n)
				_, _ = w.Write(body[:n])
				_, _ = w.WriteString("\r\n")
				body = body[n:]
			}
			_, _ = w.WriteString("0\r\n\r\n")
		} else {
			_, _ = w.Write(body)
		}
		_ = w.Flush()
	}()
	return readRawAnswer(t, bufio.NewReader(conn))
}

func readRawAnswer(t testing.TB, br *bufio.Reader) rawAnswer {
	t.Helper()
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		t.Fatalf("read status line: %v", err)
	}
	parts := strings.SplitN(line, " ", 3)
	if len(parts) < 2 {
		t.Fatalf("bad status line %q", line)
	}
	a := rawAnswer{Headers: map[string]string{}}
	if a.Status, err = strconv.Atoi(parts[1]); err != nil {
		t.Fatalf("bad status line %q", line)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read headers: %v", err)
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			break
		}
		k, v, _ := strings.Cut(l, ":")
		a.Headers[textproto.CanonicalMIMEHeaderKey(k)] = strings.TrimSpace(v)
	}
	switch {
	case a.Headers["Content-Length"] != "":
		n, _ := strconv.Atoi(a.Headers["Content-Length"])
		a.Body = make([]byte, n)
		_, err = io.ReadFull(br, a.Body)
	case strings.EqualFold(a.Headers["Transfer-Encoding"], "chunked"):
		a.Body, err = io.ReadAll(httputil.NewChunkedReader(br))
	case a.Status == 204 || a.Status == 304:
	default:
		a.Body, err = io.ReadAll(br)
	}
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return a
}
