package lineproto

// A small local harness that runs a real influxd for the tests in this
// package (the shared internal/testinflux harness is written in parallel).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// influxd is one running influxd in a temporary directory.
type influxd struct {
	url    string
	client *http.Client
}

// influxdBinary finds the influxd to test against: Debian's 1.6.7 (the
// influxd on $PATH) for version "1.6", the build named by $INFLUXD_1_8 (set
// by the Makefile) for "1.8". Without it the test is skipped, except under CI, where it fails.
func influxdBinary(t *testing.T, version string) string {
	t.Helper()
	var bin string
	switch version {
	case "1.6":
		bin = "/usr/bin/influxd"
		if p, err := exec.LookPath("influxd"); err == nil {
			bin = p
		}
	case "1.8":
		bin = os.Getenv("INFLUXD_1_8")
		if bin == "" {
			if home, err := os.UserHomeDir(); err == nil {
				bin = filepath.Join(home, ".cache", "influxgate", "influxd-1.8.10", "influxd")
			}
		}
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("influxd %s not found at %q (run make deps): %v", version, bin, err)
		}
		t.Skipf("influxd %s not found at %q: %v", version, bin, err)
	}
	return bin
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startInfluxd starts the influxd of the given version ("1.6" or "1.8") on
// free loopback ports in a temporary directory, waits until /ping answers,
// and stops it when the test ends.
func startInfluxd(t *testing.T, version string) *influxd {
	t.Helper()
	bin := influxdBinary(t, version)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		db, err := tryStartInfluxd(t, bin)
		if err == nil {
			return db
		}
		lastErr = err // most likely a port taken between freePort and bind
	}
	t.Fatalf("start %s: %v", bin, lastErr)
	return nil
}

func tryStartInfluxd(t *testing.T, bin string) (*influxd, error) {
	dir := t.TempDir()
	httpPort, rpcPort := freePort(t), freePort(t)
	// Both spellings of the reporting switch: 1.6 and 1.8 each ignore the
	// other's.
	conf := fmt.Sprintf(`reporting-enabled = false
reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  log-enabled = false
  bind-socket = %q
`, rpcPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"),
		httpPort, filepath.Join(dir, "influxd.sock"))
	confPath := filepath.Join(dir, "influxd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "influxd.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-config", confPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	db := &influxd{
		url:    fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		client: &http.Client{Timeout: 30 * time.Second},
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			logText, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("influxd exited: %v\n%s", err, logText)
		default:
		}
		// On this shared machine another process may take the port between
		// freePort and influxd's bind, and answer /ping in its place: only
		// trust /ping once our influxd has logged that it bound the port.
		logText, _ := os.ReadFile(logf.Name())
		bound := bytes.Contains(logText, []byte(`msg="Listening on HTTP"`)) &&
			bytes.Contains(logText, []byte(fmt.Sprintf("service=httpd addr=127.0.0.1:%d ", httpPort)))
		err := fmt.Errorf("influxd has not logged that it listens on port %d", httpPort)
		if bound {
			var resp *http.Response
			resp, err = db.client.Get(db.url + "/ping")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					t.Cleanup(stop)
					return db, nil
				}
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("influxd not ready after 30s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// query runs an InfluxQL statement and returns the response body.
func (db *influxd) query(t *testing.T, database, q string) []byte {
	t.Helper()
	form := url.Values{"q": {q}, "epoch": {"ns"}}
	if database != "" {
		form.Set("db", database)
	}
	resp, err := db.client.PostForm(db.url+"/query", form)
	if err != nil {
		t.Fatalf("query %q: %v", q, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("query %q: %s %s", q, resp.Status, body)
	}
	return body
}

// write posts body to path ("/write" or "/api/v2/write") with the given
// query parameters and returns the status and the error message, if any.
func (db *influxd) write(t *testing.T, path string, params url.Values, body []byte) (int, string) {
	t.Helper()
	resp, err := db.client.Post(db.url+path+"?"+params.Encode(), "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("write answer %s is not JSON: %q", resp.Status, raw)
		}
	}
	return resp.StatusCode, e.Error
}

// times returns the time of every point in database (all measurements),
// keyed by measurement and the value of column col (or "" if col is empty),
// as nanoseconds.
func (db *influxd) times(t *testing.T, database, col string) map[string][]int64 {
	t.Helper()
	raw := db.query(t, database, `SELECT * FROM /.*/`)
	var r struct {
		Results []struct {
			Error  string
			Series []struct {
				Name    string
				Columns []string
				Values  [][]any
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	out := map[string][]int64{}
	for _, res := range r.Results {
		if res.Error != "" {
			t.Fatalf("query error: %s", res.Error)
		}
		for _, s := range res.Series {
			ci := -1
			for i, c := range s.Columns {
				if c == col {
					ci = i
				}
			}
			for _, v := range s.Values {
				ts, err := strconv.ParseInt(fmt.Sprint(v[0]), 10, 64)
				if err != nil {
					t.Fatalf("time %q: %v", v[0], err)
				}
				k := s.Name
				if ci >= 0 {
					k += "/" + fmt.Sprint(v[ci])
				}
				out[k] = append(out[k], ts)
			}
		}
	}
	return out
}
