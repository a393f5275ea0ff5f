package config

import (
	"path/filepath"
	"regexp"
)

var unsafeDirRune = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// ListenerDir is the directory of a listener's log, cursors, dead letters
// and divergence marks inside the data directory: its name with every
// character outside [A-Za-z0-9._-] replaced by '_'. The daemon and the
// verify/resync commands must agree on it.
func (c *Config) ListenerDir(listener string) string {
	return filepath.Join(c.DataDir, unsafeDirRune.ReplaceAllString(listener, "_"))
}

// DirName is the last element of ListenerDir.
func DirName(listener string) string { return unsafeDirRune.ReplaceAllString(listener, "_") }
