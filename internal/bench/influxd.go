package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Influxd is a real influxd started for the influxd scenario, in its own
// directory on free loopback ports (the approach of internal/testinflux,
// which is built for tests and takes a testing.TB).
type Influxd struct {
	*Process
	Addr string // HTTP host:port
}

// StartInfluxd starts bin with a generated config under dir, pinned to cpus
// ("" = free), and waits until /ping answers.
func StartInfluxd(bin, dir, cpus string) (*Influxd, error) {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s version: %w", bin, err)
	}
	// Debian's 1.6.7 spells the usage-report switch positively, upstream
	// 1.8 negatively; each ignores the other spelling.
	old := strings.Contains(string(out), "v1.6") || strings.Contains(string(out), "v1.7")
	var lastErr error
	for range 3 {
		httpAddr, err1 := freeAddr()
		rpcAddr, err2 := freeAddr()
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("free ports: %v %v", err1, err2)
		}
		cfg := map[string]any{
			"bind-address": rpcAddr,
			"meta":         map[string]any{"dir": filepath.Join(dir, "meta")},
			"data": map[string]any{"dir": filepath.Join(dir, "data"), "wal-dir": filepath.Join(dir, "wal"),
				"query-log-enabled": false},
			"monitor": map[string]any{"store-enabled": false},
			"http":    map[string]any{"enabled": true, "bind-address": httpAddr, "log-enabled": false},
			"logging": map[string]any{"level": "warn", "suppress-logo": true},
		}
		if old {
			cfg["reporting-enabled"] = false
		} else {
			cfg["reporting-disabled"] = true
		}
		text, err := toml.Marshal(cfg)
		if err != nil {
			return nil, err
		}
		cfgPath := filepath.Join(dir, "influxd.toml")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(cfgPath, text, 0o644); err != nil {
			return nil, err
		}
		p, err := StartProcess(ProcSpec{Name: "influxd", Path: bin, Args: []string{"-config", cfgPath},
			CPUs: cpus, Log: filepath.Join(dir, "influxd.log"), Env: influxdEnv()})
		if err != nil {
			return nil, err
		}
		if err := p.WaitHTTP("http://"+httpAddr+"/ping", 60*time.Second); err != nil {
			p.Stop(5 * time.Second)
			lastErr = err
			if strings.Contains(err.Error(), "address already in use") {
				continue
			}
			return nil, err
		}
		return &Influxd{Process: p, Addr: httpAddr}, nil
	}
	return nil, lastErr
}

// influxdEnv blanks the INFLUXDB_* variables of the harness's environment,
// which influxd would read as overrides of the generated config.
func influxdEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "INFLUXDB_") {
			env = append(env, k+"=")
		}
	}
	return env
}

// Query runs q against db and returns the decoded results.
func (d *Influxd) Query(db, q string) ([]queryResult, error) {
	form := url.Values{"q": {q}}
	if db != "" {
		form.Set("db", db)
	}
	hc := &http.Client{Timeout: 2 * time.Minute}
	defer hc.CloseIdleConnections()
	resp, err := hc.PostForm("http://"+d.Addr+"/query", form)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("query %q: %s: %s", q, resp.Status, bytes.TrimSpace(b))
	}
	var r struct {
		Results []queryResult `json:"results"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // counts beyond 2^53 stay exact
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("query %q: %w", q, err)
	}
	for _, res := range r.Results {
		if res.Error != "" {
			return nil, fmt.Errorf("query %q: %s", q, res.Error)
		}
	}
	return r.Results, nil
}

type queryResult struct {
	Error  string `json:"error"`
	Series []struct {
		Values [][]any `json:"values"`
	} `json:"series"`
}

// CreateDatabase creates db.
func (d *Influxd) CreateDatabase(db string) error {
	_, err := d.Query("", "CREATE DATABASE "+db)
	return err
}

// CountPoints counts the generated points stored in db: every cpu line has
// usage_idle and every mem line has used.
func (d *Influxd) CountPoints(db string) (int64, error) {
	res, err := d.Query(db, "SELECT count(usage_idle) FROM cpu; SELECT count(used) FROM mem")
	if err != nil {
		return 0, err
	}
	var n int64
	for _, r := range res {
		for _, s := range r.Series {
			for _, v := range s.Values {
				if len(v) != 2 {
					continue
				}
				num, ok := v[1].(json.Number)
				c, err := num.Int64()
				if !ok || err != nil {
					return 0, fmt.Errorf("count: unexpected value %v", v[1])
				}
				n += c
			}
		}
	}
	return n, nil
}
