package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// duplicateKey returns a key that occurs twice in one object of the JSON
// text line (nested objects included), or "" if none does; an error if
// line is not exactly one JSON object. It walks the tokens, because
// decoding into a map would keep one of the two values and hide the
// other.
func duplicateKey(line []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	if tok != json.Delim('{') {
		return "", fmt.Errorf("not a JSON object: starts with %v", tok)
	}
	dup, err := objectDuplicate(dec)
	if err != nil {
		return "", err
	}
	if _, err := dec.Token(); err == nil {
		return "", errors.New("more than one JSON value on the line")
	}
	return dup, nil
}

// objectDuplicate walks an object whose '{' has been read, through its '}'.
func objectDuplicate(dec *json.Decoder) (string, error) {
	seen := map[string]bool{}
	found := ""
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		key, _ := tok.(string)
		if seen[key] && found == "" {
			found = key
		}
		seen[key] = true
		dup, err := valueDuplicate(dec)
		if err != nil {
			return "", err
		}
		if found == "" {
			found = dup
		}
	}
	_, err := dec.Token() // '}'
	return found, err
}

func valueDuplicate(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	switch tok {
	case json.Delim('{'):
		return objectDuplicate(dec)
	case json.Delim('['):
		found := ""
		for dec.More() {
			dup, err := valueDuplicate(dec)
			if err != nil {
				return "", err
			}
			if found == "" {
				found = dup
			}
		}
		_, err := dec.Token() // ']'
		return found, err
	}
	return "", nil
}

// The check below must be able to fail.
func TestDuplicateKeyFindsRepeatedKeys(t *testing.T) {
	for line, want := range map[string]string{
		`{"msg":"x","component":"relay","component":"wal"}`: "component",
		`{"a":{"b":1,"b":2},"c":3}`:                         "b",
		`{"a":[{"k":1},{"k":2,"k":3}]}`:                     "k",
		`{"a":1,"b":{"a":2},"c":[1,{"a":3}]}`:               "",
	} {
		if got, err := duplicateKey([]byte(line)); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", line, got, err, want)
		}
	}
	for _, bad := range []string{`[1]`, `{"a":1}{"b":2}`, `{"a":`, `level=INFO msg=x`} {
		if _, err := duplicateKey([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// With JSON logs, every line influxgate writes to stderr is one JSON object
// whose keys are unique (log pipelines reject or mangle repeated keys),
// through start, writes, bad data, UDP, a backend outage and recovery,
// a refused and an applied reload (SIGHUP), and shutdown.
func TestJSONLogLinesHaveUniqueKeys(t *testing.T) {
	t.Parallel()
	a, b := twoBackends(t, "db")
	udpAddr := fmt.Sprintf("127.0.0.1:%d", testinflux.FreeUDPPort(t))
	render := func(dataDir, addr string, withC bool) string {
		var s strings.Builder
		fmt.Fprintf(&s, "data-dir = %q\nwrite-timeout = \"5s\"\nshutdown-timeout = \"10s\"\n", dataDir)
		s.WriteString("[log]\nlevel = \"debug\"\nformat = \"json\"\n")
		fmt.Fprintf(&s, "[[http]]\nname = \"http\"\nbind-addr = %q\noutput = [\n", addr)
		fmt.Fprintf(&s, "  { name = \"a\", location = %q, max-delay-interval = \"1s\" },\n", a.WriteURL())
		fmt.Fprintf(&s, "  { name = \"b\", location = %q, max-delay-interval = \"1s\" },\n", b.WriteURL())
		if withC {
			fmt.Fprintf(&s, "  { name = \"c\", location = %q, max-delay-interval = \"1s\" },\n", a.WriteURL())
		}
		fmt.Fprintf(&s, "]\n[[udp]]\nname = \"udp\"\nbind-addr = %q\ndatabase = \"db\"\n", udpAddr)
		fmt.Fprintf(&s, "output = [ { name = \"a\", location = %q, max-delay-interval = \"1s\" } ]\n", a.WriteURL())
		return s.String()
	}
	var dataDir, addr string
	p := newProcGate(t, func(d, ad string) string {
		dataDir, addr = d, ad
		return render(d, ad, false)
	})
	g := p.asGate()
	logText := func() string {
		b, err := os.ReadFile(p.log.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	waitLog := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(logText(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("influxgate did not log %q within 30s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	hup := func(text string) {
		t.Helper()
		if err := os.WriteFile(p.cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	g.mustWrite(t, "db=db", "cpu v=1 1\n")
	if r := g.write(t, "db=db", "cpu v=\"text\" 2\n"); r.Status != http.StatusBadRequest {
		t.Fatalf("field type conflict: %d %s", r.Status, r.Body)
	}
	waitLog("backend rejected a write as bad data")
	g.query(t, http.MethodGet, url.Values{"db": {"db"}, "q": {"SELECT * FROM cpu"}})
	conn, err := net.Dial("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("udp v=1 1\nnot line protocol\n"))
	conn.Close()
	waitLog("dropped malformed UDP lines")

	b.Stop(t) // an outage: the worker logs it
	g.mustWrite(t, "db=db", "cpu v=3 3\n")
	waitLog("backend down")

	hup("this is not TOML [")
	waitLog("reload refused")
	hup(render(dataDir, addr, true))
	waitLog("configuration reloaded")
	g.mustWrite(t, "db=db", "cpu v=4 4\n")

	b.Restart(t)
	g.waitCaughtUp(t, 30*time.Second)
	waitLog("backend caught up")

	if code := p.terminate(); code != 0 {
		t.Errorf("influxgate exited %d after SIGTERM, want 0", code)
	}

	lines := strings.Split(strings.TrimRight(logText(), "\n"), "\n")
	components := map[string]bool{}
	for i, line := range lines {
		dup, err := duplicateKey([]byte(line))
		switch {
		case err != nil:
			t.Errorf("line %d is not one JSON object (%v): %s", i+1, err, line)
		case dup != "":
			t.Errorf("line %d has the key %q twice: %s", i+1, dup, line)
		}
		var rec struct{ Component string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Component != "" {
			components[rec.Component] = true
		}
	}
	// The lines came from every component that logs on this path.
	for _, c := range []string{"server", "relay", "wal", "udp"} {
		if !components[c] {
			t.Errorf("no line from component %q among %d lines", c, len(lines))
		}
	}
	for _, msg := range []string{`"msg":"log opened"`, `"msg":"stopped"`} {
		if !strings.Contains(logText(), msg) {
			t.Errorf("the log has no %s line", msg)
		}
	}
}
