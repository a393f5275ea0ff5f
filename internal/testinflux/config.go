package testinflux

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// instanceConfig is what one influxd config file is generated from.
type instanceConfig struct {
	version  Version
	rpcAddr  string // top-level bind-address (meta/snapshot RPC)
	httpAddr string
	udpAddr  string // "" without a UDP listener
	varDir   string // parent of meta/, data/ and wal/
	socket   string // [http] bind-socket (the unix socket stays disabled)
	auth     bool
	flux     bool
	udp      *UDPOptions
	tls      *TLSOptions
	extra    string // Options.ExtraConfig
}

// ownedKeys are the keys the harness relies on (addresses, directories, the
// modes Options controls, the log level its readiness check reads).
// ExtraConfig may not set them; a dotted name is table.key.
var ownedKeys = []string{
	"bind-address",
	"meta.dir",
	"data.dir",
	"data.wal-dir",
	"http.enabled",
	"http.bind-address",
	"http.auth-enabled",
	"http.flux-enabled",
	"http.https-enabled",
	"logging.level",
}

// render builds the config as a TOML document: the generated keys, with
// ExtraConfig merged in (see Options.ExtraConfig).
func (c instanceConfig) render() ([]byte, error) {
	doc := c.base()
	if strings.TrimSpace(c.extra) != "" {
		var extra map[string]any
		if err := toml.Unmarshal([]byte(c.extra), &extra); err != nil {
			return nil, fmt.Errorf("parse ExtraConfig: %w", err)
		}
		if err := mergeExtra(doc, extra); err != nil {
			return nil, fmt.Errorf("ExtraConfig: %w", err)
		}
	}
	b, err := toml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return b, nil
}

// base is the generated config. Everything not named here keeps influxd's
// default, which both versions share for the keys that matter to tests.
func (c instanceConfig) base() map[string]any {
	httpCfg := map[string]any{
		"enabled":      true,
		"bind-address": c.httpAddr,
		"bind-socket":  c.socket,
		"auth-enabled": c.auth,
		// Request logs would fill test output with a line per write.
		"log-enabled": false,
	}
	doc := map[string]any{
		"bind-address": c.rpcAddr,
		"meta":         map[string]any{"dir": filepath.Join(c.varDir, "meta")},
		"data": map[string]any{
			"dir":               filepath.Join(c.varDir, "data"),
			"wal-dir":           filepath.Join(c.varDir, "wal"),
			"query-log-enabled": false,
		},
		// The _internal database would add a write every 10 s and a
		// database that Points and SHOW DATABASES would have to skip.
		"monitor": map[string]any{"store-enabled": false},
		"http":    httpCfg,
		// "info" is needed: readiness waits for the "Listening for signals"
		// line (see waitReady).
		"logging": map[string]any{"level": "info", "suppress-logo": true},
	}
	// Debian patched 1.6.7 to spell the usage-report switch positively;
	// upstream 1.8 has reporting-disabled. Both ignore the other spelling,
	// so the wrong one would silently leave reporting on.
	if c.version == V167 {
		doc["reporting-enabled"] = false
	} else {
		doc["reporting-disabled"] = true
		httpCfg["flux-enabled"] = c.flux
		httpCfg["flux-log-enabled"] = false
	}
	if c.tls != nil {
		httpCfg["https-enabled"] = true
		httpCfg["https-certificate"] = c.tls.CertFile
		httpCfg["https-private-key"] = c.tls.KeyFile
	}
	if c.udp != nil {
		db := c.udp.Database
		if db == "" {
			db = "udp" // influxd's own default
		}
		timeout := c.udp.BatchTimeout
		if timeout <= 0 {
			timeout = defaultUDPBatchTimeout
		}
		doc["udp"] = []any{map[string]any{
			"enabled":       true,
			"bind-address":  c.udpAddr,
			"database":      db,
			"precision":     c.udp.Precision,
			"batch-timeout": timeout.String(),
		}}
	}
	return doc
}

// mergeExtra merges extra into doc: tables merge key by key (extra wins),
// arrays of tables ([[udp]], [[graphite]], ...) are appended, and any other
// key is set or replaced. Owned keys and changes of a key's kind (table vs
// value) are errors.
func mergeExtra(doc, extra map[string]any) error {
	return mergeTable(doc, extra, "")
}

func mergeTable(dst, src map[string]any, prefix string) error {
	keys := make([]string, 0, len(src))
	for k := range src {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic error messages
	for _, k := range keys {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		sv := src[k]
		if st, ok := sv.(map[string]any); ok {
			dt, exists := dst[k]
			if !exists {
				dt = map[string]any{}
				dst[k] = dt
			}
			dm, ok := dt.(map[string]any)
			if !ok {
				return fmt.Errorf("%s is not a table in the generated config", name)
			}
			if err := mergeTable(dm, st, name); err != nil {
				return err
			}
			continue
		}
		if slices.Contains(ownedKeys, name) {
			return fmt.Errorf("%s is set by testinflux and may not be overridden", name)
		}
		dv, exists := dst[k]
		if !exists {
			dst[k] = sv
			continue
		}
		switch dv := dv.(type) {
		case map[string]any:
			return fmt.Errorf("%s is a table in the generated config", name)
		case []any:
			sl, ok := sv.([]any)
			if !ok {
				return fmt.Errorf("%s is an array of tables in the generated config", name)
			}
			dst[k] = append(dv, sl...)
		default:
			dst[k] = sv
		}
	}
	return nil
}
