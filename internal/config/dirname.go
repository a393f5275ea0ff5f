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

// ShardDir is the directory of one shard of a sharded listener: its log,
// cursors, dead letters and divergence marks.
func (c *Config) ShardDir(listener, shard string) string {
	return filepath.Join(c.ListenerDir(listener), "shards", unsafeDirRune.ReplaceAllString(shard, "_"))
}

// RelayDir is the directory of a replica set: the listener's for an
// unsharded listener (shard ""), else the shard's.
func (c *Config) RelayDir(listener, shard string) string {
	if shard == "" {
		return c.ListenerDir(listener)
	}
	return c.ShardDir(listener, shard)
}

// DirName is the last element of ListenerDir.
func DirName(listener string) string { return unsafeDirRune.ReplaceAllString(listener, "_") }
