package config

import (
	"reflect"
	"strings"
)

// tomlKnownKeys lists, per section (index-free path), the keys the TOML
// schema accepts. It is derived from the decode structs' tags so that it can
// never drift from what the decoder accepts.
var tomlKnownKeys = knownKeys(reflect.TypeFor[fileTOML]())

// inmateKnownKeys is the same for Inmate's YAML ("" is the top level).
var inmateKnownKeys = knownKeys(reflect.TypeFor[inmateFile]())

func knownKeys(t reflect.Type) map[string][]string {
	out := map[string][]string{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := f.Tag.Get("toml")
			if name == "" {
				name = f.Tag.Get("yaml")
			}
			if name == "" || name == "-" {
				continue
			}
			out[prefix] = append(out[prefix], name)
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft.PkgPath() == t.PkgPath() && ft.NumField() > 0 &&
				ft.Field(0).IsExported() {
				walk(ft, joinPath(prefix, name))
			}
		}
	}
	walk(t, "")
	return out
}

// suggest returns the known key nearest to key (for "did you mean"), or ""
// when none is close: the same once case, '_' and '-' are ignored, or within
// one edit per three characters (at least one; a swap of neighbours counts
// as one edit).
func suggest(key string, known []string) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }
	best, bestDist := "", max(1, len(key)/3)+1
	for _, k := range known {
		if norm(k) == norm(key) {
			return k
		}
		if d := editDistance(key, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance between two short
// keys: insertions, deletions, substitutions and swaps of neighbours.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b)) // no key is that long; skip the quadratic work
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
