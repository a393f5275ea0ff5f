package wal

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Cursors persists one position per name (one per backend). Every Store
// writes a temp file, fsyncs it, renames it over the old file and fsyncs the
// directory, so a crash at any moment leaves either the old or the new value.
//
// A cursor file holds one line, "influxgate-cursor 1 <index> <crc32c>", where
// the checksum covers the text before it: readable by an operator, and a
// damaged file is detected rather than misread.
type Cursors struct {
	dir string

	mu       sync.Mutex
	vals     map[string]uint64
	locks    map[string]*sync.Mutex
	problems []error
	damaged  map[string]error

	// beforeRename, if set, runs after the temp file is durable and before the
	// rename; tests use it to simulate a crash at that moment.
	beforeRename func(tmp string) error
}

const (
	cursorSuffix = ".cursor"
	cursorPrefix = "influxgate-cursor 1 "
)

// OpenCursors opens (creating it, mode 0700, if missing) a cursor directory
// and loads every cursor in it. Temp files left by a crash are removed. A
// damaged cursor file is left alone (a later Store replaces it), does not
// load, and is reported by Damaged under its backend's name: the caller
// must replay that backend from the oldest record rather than treat it as
// new, which would skip its backlog. Problems reports every damaged file,
// including those whose name cannot be decoded.
func OpenCursors(dir string) (*Cursors, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open cursors %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open cursors %s: %w", dir, err)
	}
	c := &Cursors{dir: dir, vals: make(map[string]uint64), locks: make(map[string]*sync.Mutex),
		damaged: make(map[string]error)}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		switch {
		case e.IsDir():
		case strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp"):
			if err := os.Remove(path); err != nil {
				return nil, fmt.Errorf("open cursors %s: remove stale temp file: %w", dir, err)
			}
		case strings.HasSuffix(name, cursorSuffix):
			cname, ok := decodeCursorName(strings.TrimSuffix(name, cursorSuffix))
			if !ok {
				c.problems = append(c.problems, fmt.Errorf("cursor file %s: bad name", path))
				continue
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("open cursors %s: %w", dir, err)
			}
			idx, err := parseCursor(b)
			if err != nil {
				err = fmt.Errorf("cursor file %s: %w", path, err)
				c.problems = append(c.problems, err)
				c.damaged[cname] = err
				continue
			}
			c.vals[cname] = idx
		}
	}
	return c, nil
}

// Problems returns the damaged cursor files OpenCursors found.
func (c *Cursors) Problems() []error { return slices.Clone(c.problems) }

// Damaged returns, by name, the cursors OpenCursors found damaged and no
// Store has replaced since.
func (c *Cursors) Damaged() map[string]error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.damaged)
}

// Load returns the stored position for name; ok is false if there is none.
func (c *Cursors) Load(name string) (index uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	index, ok = c.vals[name]
	return index, ok
}

// Names returns the names that have a stored position, sorted.
func (c *Cursors) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.vals))
	for n := range c.vals {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (c *Cursors) lockName(name string) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.locks[name]
	if m == nil {
		m = new(sync.Mutex)
		c.locks[name] = m
	}
	return m
}

// Store durably records index for name. Stores for different names run in
// parallel; stores for one name are serialised so the last one wins on disk.
func (c *Cursors) Store(name string, index uint64) error {
	if name == "" {
		return errors.New("store cursor: empty name")
	}
	m := c.lockName(name)
	m.Lock()
	defer m.Unlock()
	enc := encodeCursorName(name)
	final := filepath.Join(c.dir, enc+cursorSuffix)
	tmp, err := os.CreateTemp(c.dir, "."+enc+".*.tmp")
	if err != nil {
		return fmt.Errorf("store cursor %q: %w", name, err)
	}
	err = writeAndSync(tmp, formatCursor(index))
	if err == nil && c.beforeRename != nil {
		err = c.beforeRename(tmp.Name())
	}
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err == nil {
		err = syncDir(c.dir)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("store cursor %q: %w", name, err)
	}
	c.mu.Lock()
	c.vals[name] = index
	delete(c.damaged, name)
	c.mu.Unlock()
	return nil
}

// Delete removes name's stored position (no error if there is none).
func (c *Cursors) Delete(name string) error {
	m := c.lockName(name)
	m.Lock()
	defer m.Unlock()
	path := filepath.Join(c.dir, encodeCursorName(name)+cursorSuffix)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete cursor %q: %w", name, err)
	}
	if err := syncDir(c.dir); err != nil {
		return fmt.Errorf("delete cursor %q: %w", name, err)
	}
	c.mu.Lock()
	delete(c.vals, name)
	delete(c.damaged, name)
	c.mu.Unlock()
	return nil
}

func writeAndSync(f *os.File, b []byte) error {
	_, err := f.Write(b)
	if err == nil {
		err = fullsync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func formatCursor(index uint64) []byte {
	body := cursorPrefix + strconv.FormatUint(index, 10)
	return fmt.Appendf(nil, "%s %08x\n", body, crc([]byte(body)))
}

func parseCursor(b []byte) (uint64, error) {
	line, ok := strings.CutSuffix(string(b), "\n")
	if !ok {
		return 0, errors.New("truncated")
	}
	sp := strings.LastIndexByte(line, ' ')
	if sp < 0 || !strings.HasPrefix(line, cursorPrefix) {
		return 0, errors.New("not a cursor file")
	}
	body, sum := line[:sp], line[sp+1:]
	if want := fmt.Sprintf("%08x", crc([]byte(body))); sum != want {
		return 0, fmt.Errorf("checksum %s, want %s", sum, want)
	}
	idx, err := strconv.ParseUint(strings.TrimPrefix(body, cursorPrefix), 10, 64)
	if err != nil {
		return 0, err
	}
	return idx, nil
}

// encodeCursorName makes a backend name safe as a file name: letters, digits,
// '-' and '_' stay; every other byte becomes %XX (so "." and ".." cannot
// occur and names stay distinct).
func encodeCursorName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

func decodeCursorName(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), b.Len() > 0
}
