package config

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// keyPos is where one key (or one table / array element) sits in a TOML file.
type keyPos struct {
	path       string // http[0].output[1].timeout
	line       int
	start, end int  // byte offsets covered (key through value)
	isKey      bool // a key = value, not a table header or array element
}

// posIndex maps key paths to lines and positions to key paths for one TOML
// document. It is built with go-toml's unstable parser (see the package doc
// for why); a document the parser rejects yields a partial index, which is
// fine because the decoder reports the syntax error itself.
type posIndex struct {
	entries    []keyPos
	byPath     map[string]keyPos
	lineStarts []int
}

func indexTOML(data []byte) *posIndex {
	idx := &posIndex{byPath: map[string]keyPos{}, lineStarts: []int{0}}
	for i, b := range data {
		if b == '\n' {
			idx.lineStarts = append(idx.lineStarts, i+1)
		}
	}
	w := tomlWalker{p: &unstable.Parser{}, idx: idx, arrays: map[string]int{}}
	w.p.Reset(data)
	cur := ""
	for w.p.NextExpression() {
		e := w.p.Expression()
		switch e.Kind {
		case unstable.Table:
			parts, first := w.keyParts(e)
			cur = w.resolve(parts)
			w.add(cur, first, first, false)
		case unstable.ArrayTable:
			parts, first := w.keyParts(e)
			if len(parts) == 0 {
				continue
			}
			base := w.resolve(parts[:len(parts)-1])
			base = joinPath(base, parts[len(parts)-1])
			n := w.arrays[base]
			w.arrays[base] = n + 1
			cur = base + "[" + strconv.Itoa(n) + "]"
			w.add(cur, first, first, false)
		case unstable.KeyValue:
			w.keyValue(cur, e)
		}
	}
	return idx
}

type tomlWalker struct {
	p      *unstable.Parser
	idx    *posIndex
	arrays map[string]int // array-of-tables path → elements seen so far
}

func (w *tomlWalker) keyParts(n *unstable.Node) ([]string, int) {
	var parts []string
	first := -1
	it := n.Key()
	for it.Next() {
		k := it.Node()
		if first < 0 {
			first = int(k.Raw.Offset)
		}
		parts = append(parts, string(k.Data))
	}
	if first < 0 {
		first = int(n.Raw.Offset)
	}
	return parts, first
}

// resolve turns header key parts into a path, pointing every part that names
// an array of tables at its latest element: [http.auth] after the second
// [[http]] is http[1].auth.
func (w *tomlWalker) resolve(parts []string) string {
	path := ""
	for _, p := range parts {
		path = joinPath(path, p)
		if n := w.arrays[path]; n > 0 {
			path += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	return path
}

func (w *tomlWalker) keyValue(base string, kv *unstable.Node) {
	parts, _ := w.keyParts(kv)
	path := base
	for _, p := range parts {
		path = joinPath(path, p)
	}
	start := int(kv.Raw.Offset)
	w.add(path, start, start+int(kv.Raw.Length), true)
	w.value(path, kv.Value())
}

func (w *tomlWalker) value(path string, v *unstable.Node) {
	switch v.Kind {
	case unstable.InlineTable:
		w.add(path, int(v.Raw.Offset), int(v.Raw.Offset), false)
		it := v.Children()
		for it.Next() {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				w.keyValue(path, c)
			}
		}
	case unstable.Array:
		i := 0
		it := v.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			elem := path + "[" + strconv.Itoa(i) + "]"
			if c.Kind != unstable.InlineTable && c.Kind != unstable.Array && c.Raw.Offset > 0 {
				// A scalar element (tokens = ["a", " "]) gets a line of
				// its own, so that a problem with tokens[1] points at it.
				w.add(elem, int(c.Raw.Offset), int(c.Raw.Offset+c.Raw.Length), false)
			}
			w.value(elem, c)
			i++
		}
	}
}

func (w *tomlWalker) add(path string, start, end int, isKey bool) {
	kp := keyPos{path: path, line: w.idx.lineOf(start), start: start, end: end, isKey: isKey}
	w.idx.entries = append(w.idx.entries, kp)
	if _, dup := w.idx.byPath[path]; !dup {
		w.idx.byPath[path] = kp
	}
}

func (idx *posIndex) lineOf(offset int) int {
	return sort.Search(len(idx.lineStarts), func(i int) bool { return idx.lineStarts[i] > offset })
}

// keyAt returns the path of the innermost key = value covering line:col
// (1-based, as go-toml reports), or "" if none does.
func (idx *posIndex) keyAt(line, col int) string {
	if line < 1 || line > len(idx.lineStarts) {
		return ""
	}
	off := idx.lineStarts[line-1] + col - 1
	best, bestLen := "", -1
	for _, e := range idx.entries {
		if !e.isKey || off < e.start || off > e.end {
			continue
		}
		if l := e.end - e.start; bestLen < 0 || l < bestLen {
			best, bestLen = e.path, l
		}
	}
	return best
}

// lineFor returns the line of path or, when the key is absent, of the
// nearest enclosing table or element that is present; 0 if none is.
func (idx *posIndex) lineFor(path string) int {
	for path != "" {
		if e, ok := idx.byPath[path]; ok {
			return e.line
		}
		path = parentPath(path)
	}
	return 0
}

// schemaKeys returns the set of index-free key paths the document uses, e.g.
// "http.output.timeout".
func (idx *posIndex) schemaKeys() map[string]bool {
	out := map[string]bool{}
	for _, e := range idx.entries {
		out[schemaPath(e.path)] = true
	}
	return out
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// schemaPath strips array indices: http[0].output[1].timeout → http.output.timeout.
func schemaPath(path string) string { return indexRE.ReplaceAllString(path, "") }

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

// parentPath drops the last element: a.b[1].c → a.b[1] → a.b → a → "".
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// lastKey returns the last key name of a path: http[0].bind-adr → bind-adr.
func lastKey(path string) string {
	path = indexRE.ReplaceAllString(path, "")
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}
