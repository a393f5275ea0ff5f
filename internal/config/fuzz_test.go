package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadBytes checks that no input makes the loader panic, and that its
// two outcomes are consistent: a config that validates, or only FieldErrors.
func FuzzLoadBytes(f *testing.F) {
	for _, path := range exampleFiles(f) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(filepath.Base(path), data)
		f.Add("noext", data)
	}
	f.Add("x.toml", []byte("[[http]]\noutput = [{ location = \"http://h\" }, { timeout = \"1x\" }]\n[http.auth]\n"))
	f.Add("x.toml", []byte("[[http.output]]\n[[udp]]\n[[udp.output]]\nmtu = -1\n"))
	f.Add("x.yaml", []byte("addresses: [{url: 1}]\nport: [2]\nretry_delay: {a: b}\n"))
	f.Add("x.yml", []byte("- a\n- b\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		cfg, err := LoadBytes(name, data)
		if err != nil {
			if cfg != nil {
				t.Fatalf("config returned with error %v", err)
			}
			probs := FieldErrors(err)
			if len(probs) == 0 {
				t.Fatalf("error without FieldErrors: %v", err)
			}
			for _, p := range probs {
				if p.Msg == "" {
					t.Fatalf("problem without a message: %+v", p)
				}
			}
			return
		}
		if cfg == nil {
			t.Fatal("nil config without error")
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("loaded config does not validate: %v", err)
		}
		_ = cfg.Warnings()
	})
}
