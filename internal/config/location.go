package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
)

// Location is an output's "location" as written: an http(s) write URL, or
// host:port for a UDP output. A URL may carry credentials
// (http://user:password@db1:8086/write), so every way of printing a
// Location — fmt's %s, %v, %q and %#v, JSON (and other encoders that use
// encoding.TextMarshaler), slog — shows it redacted: the password becomes "xxxxx" (the user name stays, to
// tell accounts apart), every query value becomes "xxxxx", and a location
// that does not parse loses everything between "://" and its last '@'
// after the first ':'. Redaction lives here, in the type that holds the
// secret, so that no page, log line or error message has to remember it.
//
// The password is reachable only through URL and Reveal, for the code that
// connects to the backend.
type Location string

// redactedMark replaces a secret, as net/url's URL.Redacted does.
const redactedMark = "xxxxx"

// String returns the location with its secrets replaced by "xxxxx".
func (l Location) String() string { return redactLocation(string(l)) }

// GoString makes %#v redact too.
func (l Location) GoString() string { return strconv.Quote(l.String()) }

// MarshalText makes encoders (JSON, YAML) write the redacted form.
func (l Location) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// LogValue makes slog write the redacted form.
func (l Location) LogValue() slog.Value { return slog.StringValue(l.String()) }

// Reveal returns the location as written, credentials included. Only the
// code that connects to the backend may use it (UDP outputs dial it);
// everything else prints the Location itself.
func (l Location) Reveal() string { return string(l) }

// URL parses an http(s) location, credentials included, for the code that
// connects to the backend. A parse error names the location redacted:
// net/url's own error quotes it whole, and its reason may quote a piece of
// the password ("invalid port \":s3\" after host"), so a location that has
// something to hide gets no reason beyond "not a valid URL" and a hint.
func (l Location) URL() (*url.URL, error) {
	u, err := url.Parse(string(l))
	if err != nil {
		shown := l.String()
		if shown != string(l) {
			return nil, fmt.Errorf("parse %q: not a valid URL (in a password, %% / ? # must be percent-encoded)", shown)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("parse %q: %w", shown, err)
	}
	return u, nil
}

// redactLocation hides the password and query values of s.
func redactLocation(s string) string {
	if !strings.ContainsAny(s, "@?#") {
		return s // nothing that can hold a secret: host:port, or a URL without userinfo or query
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		return redactUnparsed(s)
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redactedMark)
		}
	}
	if u.RawQuery != "" || u.ForceQuery {
		q := u.Query()
		for k := range q {
			q[k] = []string{redactedMark}
		}
		u.RawQuery = q.Encode()
	}
	if u.Fragment != "" {
		u.Fragment = redactedMark
	}
	return u.String()
}

// redactUnparsed is redactLocation for text net/url refuses (a stray '%',
// a '/' in a password): it errs on the side of hiding too much.
func redactUnparsed(s string) string {
	rest := s
	var tail string
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest, tail = rest[:i], rest[i:i+1]+redactedMark
	}
	prefix := ""
	if i := strings.Index(rest, "://"); i >= 0 {
		prefix, rest = rest[:i+3], rest[i+3:]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		userinfo := rest[:at]
		if c := strings.IndexByte(userinfo, ':'); c >= 0 {
			userinfo = userinfo[:c+1] + redactedMark
		}
		rest = userinfo + rest[at:]
	}
	return prefix + rest + tail
}
