package e2e

import (
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/testinflux"
)

// G7: no endpoint, log line or file other than the log's own records shows
// a secret. influxgate runs as the real binary (its log is its stderr, at
// debug level) with secrets in every place a config can hold them —
// passwords in output URLs (a live backend, one that is down, one behind a
// UDP listener), an output password, an output token, gateway tokens and
// users — and clients that send secrets of their own. Every endpoint and
// error answer, every header, the whole log, check-config's output (of the
// config and of a broken copy) and every file of the data directory but
// the log's records are searched for each secret.
func TestSecurityNoEndpointLogOrFileShowsASecret(t *testing.T) {
	t.Parallel()
	a := testinflux.Start(t, testinflux.Options{Auth: true})
	b := testinflux.Start(t, testinflux.Options{Auth: true})
	for _, s := range []*testinflux.Server{a, b} {
		s.CreateDatabase(t, "db")
	}
	a.Exec(t, "CREATE USER urluser WITH PASSWORD 'urlS3cr3tA' WITH ALL PRIVILEGES")
	b.Exec(t, "CREATE USER pwuser WITH PASSWORD 'pwS3cr3tB' WITH ALL PRIVILEGES")

	// Secrets of the config: they must never show, anywhere but the config.
	configSecrets := []string{"urlS3cr3tA", "pwS3cr3tB", "tokS3cr3tC", "downS3cr3tD", "udpS3cr3tE", "gwTok3nF", "gwPassG"}
	// Secrets clients send: never in an answer, a header or the log (a
	// statement's own text may sit in the log's records, which replay it).
	clientSecrets := []string{"stmtS3cr3tH", "clientS3cr3tI"}
	secrets := append(append([]string(nil), configSecrets...), clientSecrets...)

	host := func(s *testinflux.Server) string { return strings.TrimPrefix(s.URL(), "http://") }
	down := fmt.Sprintf("127.0.0.1:%d", testinflux.FreePort(t)) // nothing listens there
	gwAddr := fmt.Sprintf("127.0.0.1:%d", testinflux.FreePort(t))
	udpAddr := fmt.Sprintf("127.0.0.1:%d", testinflux.FreeUDPPort(t))
	udpSink := fmt.Sprintf("127.0.0.1:%d", testinflux.FreeUDPPort(t))
	var cfgText string
	p := newProcGate(t, func(dataDir, addr string) string {
		cfgText = fmt.Sprintf(`data-dir = %q
write-timeout = "2s"
shutdown-timeout = "10s"
[log]
level = "debug"
[debug]
pprof = true

[[http]]
name = "open"
bind-addr = %q
output = [
  { name = "a", location = "http://urluser:urlS3cr3tA@%s/write", max-delay-interval = "1s" },
  { name = "b", location = "http://%s/write", username = "pwuser", password = "pwS3cr3tB", max-delay-interval = "1s" },
  { name = "c", location = "http://%s/write", token = "tokS3cr3tC", max-delay-interval = "1s" },
  { name = "d", location = "http://downuser:downS3cr3tD@%s/write", max-delay-interval = "1s", timeout = "1s" },
]

[[http]]
name = "gw"
bind-addr = %q
output = [{ name = "a", location = "http://urluser:urlS3cr3tA@%s/write", max-delay-interval = "1s" }]
[http.auth]
mode = "gateway"
tokens = ["gwTok3nF"]
users = [{ username = "gwuser", password = "gwPassG" }]

[[udp]]
name = "udp"
bind-addr = %q
database = "db"
output = [
  { name = "u1", location = %q },
  { name = "u2", location = "http://udpuser:udpS3cr3tE@%s/write", max-delay-interval = "1s" },
]
`, dataDir, addr, host(a), host(b), host(b), down, gwAddr, host(a), udpAddr, udpSink, host(a))
		return cfgText
	})
	open, gw := p.url, "http://"+gwAddr

	var seen []string // every answer, as text: status line, headers, body
	record := func(what string, r response) {
		var b strings.Builder
		fmt.Fprintf(&b, "%s -> %d\n", what, r.Status)
		for k, vs := range r.Header {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ", "))
		}
		b.WriteString(r.Body)
		seen = append(seen, b.String())
	}
	form := []string{"Content-Type", "application/x-www-form-urlencoded"}
	query := func(base, q string, hdr ...string) response {
		return do(t, http.MethodPost, base+"/query", url.Values{"q": {q}, "db": {"db"}}.Encode(), append(hdr, form...)...)
	}

	// Traffic that puts errors on every backend that can have them: writes
	// to the down backend, refusals of the token and of the UDP output's
	// unknown user, a bad line.
	for _, base := range []string{open, gw} {
		var hdr []string // pass-through: the outputs' credentials serve writes
		if base == gw {
			hdr = []string{"Authorization", "Token gwTok3nF"}
		}
		record("write "+base, do(t, http.MethodPost, base+"/write?db=db", "m v=1 1\n", hdr...))
		record("bad line "+base, do(t, http.MethodPost, base+"/write?db=db", "m v=\n", hdr...))
		record("no db "+base, do(t, http.MethodPost, base+"/write", "m v=1 1\n", hdr...))
		record("unknown db "+base, do(t, http.MethodPost, base+"/write?db=nodb", "m v=1 1\n", hdr...))
	}
	sendUDP(t, udpAddr, 0, 1)
	deadline := time.Now().Add(20 * time.Second)
	for {
		h := do(t, http.MethodGet, open+"/health", "").Body
		if strings.Contains(h, `"state": "down"`) && strings.Contains(h, `"last_error": "`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backend down with an error on /health: %s", h)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // a retry or two of every failing backend, in the log

	// Error answers of /write and /query, with clients' own secrets.
	record("anonymous CREATE USER", query(open, "CREATE USER x WITH PASSWORD 'stmtS3cr3tH' WITH ALL PRIVILEGES"))
	record("wrong client password", query(open, "SHOW USERS", "Authorization", "Basic "+basic("admin", "clientS3cr3tI")))
	record("anonymous read", query(open, "SELECT * FROM m"))
	record("parse error", query(open, "SELECT FROM WHERE"))
	record("gateway: CREATE USER without admin", query(gw, "CREATE USER x WITH PASSWORD 'stmtS3cr3tH'", "Authorization", "Token gwTok3nF"))
	record("gateway: SET PASSWORD without admin", query(gw, "SET PASSWORD FOR admin = 'stmtS3cr3tH'", "Authorization", "Basic "+basic("gwuser", "gwPassG")))
	record("gateway: wrong password", query(gw, "SHOW DATABASES", "Authorization", "Basic "+basic("gwuser", "clientS3cr3tI")))
	record("gateway: wrong token", do(t, http.MethodPost, gw+"/write?db=db", "m v=1 1\n", "Authorization", "Token clientS3cr3tI"))
	record("gateway: u/p in the URL", do(t, http.MethodGet, gw+"/query?q=SHOW+DATABASES&u=gwuser&p=clientS3cr3tI", ""))
	record("gateway: read", query(gw, "SHOW DATABASES", "Authorization", "Basic "+basic("gwuser", "gwPassG")))
	record("flux on 1.6.7", do(t, http.MethodPost, open+"/api/v2/query", `from(bucket:"db")`, "Content-Type", "application/vnd.flux"))

	// Every page, on both listeners.
	for _, base := range []string{open, gw} {
		for _, path := range []string{"/health", "/health?verbose", "/health?verbose=true", "/status", "/status.json", "/",
			"/metrics", "/ping", "/ping?verbose=true", "/debug/vars", "/debug/pprof/", "/debug/pprof/cmdline"} {
			r := do(t, http.MethodGet, base+path, "")
			record(base+path, r)
			if path == "/health" && !strings.Contains(r.Body, "urluser:xxxxx@") {
				t.Errorf("%s%s does not show the redacted location:\n%s", base, path, r.Body)
			}
		}
	}

	// check-config, of the config and of a copy whose location no longer
	// parses (its error names the location).
	out, _ := exec.Command(influxgateBin, "check-config", "-config", p.cfgPath).CombinedOutput()
	record("check-config", response{Body: string(out)})
	if !strings.Contains(string(out), "warning: ") {
		t.Errorf("check-config warns about nothing:\n%s", out)
	}
	broken := filepath.Join(t.TempDir(), "broken.toml")
	text := strings.Replace(cfgText, "@"+down+"/write", "@"+strings.Replace(down, ":", ": ", 1)+"/write", 1)
	text = strings.Replace(text, `location = "http://urluser:urlS3cr3tA@`+host(a), `location = "http://urluser:urlS3cr3tA@[::1`, 1)
	if err := os.WriteFile(broken, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(influxgateBin, "check-config", "-config", broken).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "location") {
		t.Errorf("check-config of a broken location: %v\n%s", err, out)
	}
	record("check-config of a broken config", response{Body: string(out)})

	for _, s := range seen {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("%q shown:\n%s", secret, clip(s))
			}
		}
	}

	// A reload: first of the broken file (refused, with the reason in the
	// log), then of the good one.
	for i, text := range []string{text, cfgText} {
		if err := os.WriteFile(p.cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		want := []string{"reload refused", "configuration reloaded"}[i]
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if b, _ := os.ReadFile(p.log.Name()); strings.Count(string(b), want) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log after SIGHUP", want)
			}
		}
	}

	// The log, to the last line of the shutdown.
	if code := p.terminate(); code != 0 {
		t.Errorf("exit code %d", code)
	}
	logText, err := os.ReadFile(p.log.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logText), "backend down") || !strings.Contains(string(logText), "listener=udp") {
		t.Errorf("the log lacks what this test needs to search:\n%s", clip(string(logText)))
	}
	for _, line := range strings.Split(string(logText), "\n") {
		for _, secret := range secrets {
			if strings.Contains(line, secret) {
				t.Errorf("log shows %q: %s", secret, line)
			}
		}
	}

	// The data directory: cursors, state. Only the log's records (its
	// segments, and records moved to a dead-letter store) may hold what
	// clients sent (pass-through credentials and statements are replayed
	// from there); config secrets are never anywhere.
	files := 0
	err = filepath.WalkDir(filepath.Join(p.dir, "data"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		check := secrets
		if rel, _ := filepath.Rel(p.dir, path); strings.Contains(rel, "/log/") || strings.Contains(rel, "/deadletter/") {
			check = configSecrets
		}
		for _, secret := range check {
			if strings.Contains(string(data), secret) {
				t.Errorf("%s holds %q", path, secret)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Errorf("data dir: %d files, %v", files, err)
	}
}
