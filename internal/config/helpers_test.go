package config

import (
	"strings"
	"testing"
)

// mustLoad loads data and fails the test on any error.
func mustLoad(t *testing.T, name, data string) *Config {
	t.Helper()
	cfg, err := LoadBytes(name, []byte(data))
	if err != nil {
		t.Fatalf("LoadBytes(%s): unexpected error:\n%v", name, err)
	}
	if cfg == nil {
		t.Fatalf("LoadBytes(%s): nil config without error", name)
	}
	return cfg
}

// loadProblems loads data, requires it to fail, and returns its problems.
func loadProblems(t *testing.T, name, data string) []*FieldError {
	t.Helper()
	cfg, err := LoadBytes(name, []byte(data))
	if err == nil {
		t.Fatalf("LoadBytes(%s): want an error, got none", name)
	}
	if cfg != nil {
		t.Errorf("LoadBytes(%s): want a nil config with the error", name)
	}
	probs := FieldErrors(err)
	if len(probs) == 0 {
		t.Fatalf("LoadBytes(%s): error holds no *FieldError: %v", name, err)
	}
	return probs
}

// problemFor returns the problem for key, failing the test if there is none.
func problemFor(t *testing.T, probs []*FieldError, key string) *FieldError {
	t.Helper()
	for _, p := range probs {
		if p.Key == key {
			return p
		}
	}
	var keys []string
	for _, p := range probs {
		keys = append(keys, p.Error())
	}
	t.Fatalf("no problem for key %q; got:\n  %s", key, strings.Join(keys, "\n  "))
	return nil
}

// wantMsg fails unless p's rendered error contains every fragment.
func wantMsg(t *testing.T, p *FieldError, fragments ...string) {
	t.Helper()
	s := p.Error()
	for _, f := range fragments {
		if !strings.Contains(s, f) {
			t.Errorf("error %q does not contain %q", s, f)
		}
	}
}

// twoOutputs is a minimal valid [[http]] section body shared by tests.
const twoOutputs = `output = [
    { name = "a", location = "http://127.0.0.1:8086/write" },
    { name = "b", location = "http://127.0.0.1:7086/write" },
]
`
