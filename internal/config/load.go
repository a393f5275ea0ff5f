package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Load reads a config file, detects its format (native or influxdb-relay
// TOML, Inmate YAML), decodes it strictly, applies defaults and environment
// overrides, and validates it. The error lists every problem found
// (errors.Join of *FieldError), each naming its key and, where the key is in
// the file, the file:line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return LoadBytes(path, data)
}

// LoadBytes is Load for in-memory data. name is used in messages and, by its
// extension (.toml, .yaml/.yml), for format detection; without a known
// extension the content decides.
func LoadBytes(name string, data []byte) (*Config, error) {
	var (
		cfg    Config
		probs  problems
		fatal  bool
		keyOf  = func(k string) string { return k }
		lineOf func(string) int
	)
	if isYAML(name, data) {
		cfg, keyOf, lineOf, probs, fatal = decodeInmate(name, data)
	} else {
		var idx *posIndex
		cfg, idx, probs, fatal = decodeTOML(name, data)
		lineOf = idx.lineFor
	}
	if fatal {
		return nil, probs.err()
	}
	cfg.ApplyDefaults()

	// Validation problems are named in the file's own terms and get a line.
	// A key that already has a decode problem is not reported twice.
	seen := map[string]bool{}
	for _, p := range probs {
		seen[p.Key] = true
	}
	for _, fe := range FieldErrors(cfg.Validate()) {
		fe.Key = keyOf(fe.Key)
		if fe.Key != "" && seen[fe.Key] {
			continue
		}
		fe.File, fe.Line = name, lineOf(fe.Key)
		probs = append(probs, fe)
	}
	if len(probs) > 0 {
		return nil, probs.err()
	}
	return &cfg, nil
}

// isYAML decides the dialect: by extension first, else by the first line
// that is not blank or a comment (a TOML file starts with a [table] or a
// key = value; Inmate's YAML with key: value, "- " or "---").
func isYAML(name string, data []byte) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return true
	case ".toml":
		return false
	}
	l := firstSignificantLine(data)
	if l == "" || strings.HasPrefix(l, "[") {
		return false
	}
	if strings.HasPrefix(l, "---") || strings.HasPrefix(l, "- ") {
		return true
	}
	eq, colon := strings.IndexByte(l, '='), strings.IndexByte(l, ':')
	if eq >= 0 && (colon < 0 || eq < colon) {
		return false
	}
	return colon >= 0
}

func firstSignificantLine(data []byte) string {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		l := strings.TrimSpace(string(line))
		if l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return ""
}
