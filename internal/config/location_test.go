package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestLocationPrintsRedacted(t *testing.T) {
	tests := []struct {
		loc  Location
		want string
	}{
		{"http://db1:8086/write", "http://db1:8086/write"},
		{"db1:8089", "db1:8089"},
		{"http://user:s3cr3t@db1:8086/write", "http://user:xxxxx@db1:8086/write"},
		{"https://user:p@ss@db1:8086/api/v2/write", "https://user:xxxxx@db1:8086/api/v2/write"},
		{"http://user@db1:8086/write", "http://user@db1:8086/write"}, // a user name alone is no secret
		{"http://db1:8086/write?u=admin&p=s3cr3t", "http://db1:8086/write?p=xxxxx&u=xxxxx"},
		{"http://db1:8086/write#s3cr3t", "http://db1:8086/write#xxxxx"},
		// net/url refuses these; the fallback hides at least as much.
		{"http://user:s3/cr3t@db1:8086/write", "http://user:xxxxx@db1:8086/write"},
		{"http://user:s3%zzcr3t@db1:8086/write", "http://user:xxxxx@db1:8086/write"},
		{"http://user:s3cr3t@db1:86 86/write?p=s3cr3t", "http://user:xxxxx@db1:86 86/write?xxxxx"},
		{"user:s3cr3t@db1:8089", "user:xxxxx@db1:8089"},
	}
	for _, tt := range tests {
		if got := tt.loc.String(); got != tt.want {
			t.Errorf("%q.String() = %q, want %q", tt.loc.Reveal(), got, tt.want)
		}
		if tt.loc.Reveal() != string(tt.loc) {
			t.Errorf("Reveal changed %q", string(tt.loc))
		}
		// Every way of printing it hides the secret.
		o := OutputConfig{Name: "a", Location: tt.loc}
		var logged bytes.Buffer
		slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "location", tt.loc)
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "location", tt.loc)
		js, _ := json.Marshal(o)
		for _, s := range []string{fmt.Sprint(tt.loc), fmt.Sprintf("%v %s %q %#v %+v %#v", tt.loc, tt.loc, tt.loc, tt.loc, o, o),
			logged.String(), string(js)} {
			if strings.Contains(s, "s3") {
				t.Errorf("%q printed as %s", tt.loc.Reveal(), s)
			}
		}
	}
}

func TestLocationURLErrorIsRedacted(t *testing.T) {
	loc := Location("http://user:s3cr3t@db1:86 86/write")
	if _, err := loc.URL(); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("URL() error %v", err)
	}
	u, err := Location("http://user:s3cr3t@db1:8086/write").URL()
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := u.User.Password(); p != "s3cr3t" {
		t.Errorf("URL() lost the password the connection needs: %q", p)
	}
}

// A location that fails validation is named redacted in the error, and in
// the output name derived from it.
func TestBadLocationErrorsHideThePassword(t *testing.T) {
	for _, loc := range []string{"http://user:s3cr3t@db1:86 86/write", "http://user:s3cr3t@db1:8086/write?x=1",
		"ftp://user:s3cr3t@db1/write", "http://user:s3/cr3t@db1:8086/write"} {
		_, err := LoadBytes("x.toml", []byte(fmt.Sprintf("[[http]]\nbind-addr = \"127.0.0.1:0\"\noutput = [{ location = %q }]\n", loc)))
		if err == nil {
			t.Errorf("%s: loaded", loc)
			continue
		}
		if strings.Contains(err.Error(), "s3") {
			t.Errorf("%s: error shows the password: %v", loc, err)
		}
	}
}
