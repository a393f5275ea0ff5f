package ingest

import (
	"net/url"
	"strings"
)

// The query parameters the write endpoints read, as indexes into params.
const (
	paramDB = iota
	paramRP
	paramPrecision
	paramConsistency
	paramU
	paramP
	paramBucket
	paramOrg
	paramOrgID
	numParams
)

var paramNames = [numParams]string{"db", "rp", "precision", "consistency", "u", "p", "bucket", "org", "orgID"}

// params holds the first value of each parameter the endpoints read.
type params struct {
	v   [numParams]string
	set uint16 // bit i: parameter i was present
}

func (p *params) get(i int) string { return p.v[i] }

// parseParams reads the write parameters from a raw query string exactly
// as url.ParseQuery and Values.Get would (the first value of a key wins,
// even an empty one; a pair that holds ';' or does not unescape is
// skipped), but without Go's cap of 10,000 parameters: past it, ParseQuery
// returns no values at all, so a write that names its database would be
// refused with "database is required", while InfluxDB 1.x (1.6.7, and
// 1.8.10 built from its own go.mod) reads it and writes the points. Other
// keys are skipped without being kept, so a long query string costs one
// pass and no memory.
func parseParams(raw string) params {
	var p params
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(k, "%+") {
			var err error
			if k, err = url.QueryUnescape(k); err != nil {
				continue
			}
		}
		i := paramIndex(k)
		if i < 0 || p.set&(1<<i) != 0 {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			var err error
			if v, err = url.QueryUnescape(v); err != nil {
				continue
			}
		}
		p.v[i] = v
		p.set |= 1 << i
	}
	return p
}

func paramIndex(k string) int {
	for i, n := range paramNames {
		if k == n {
			return i
		}
	}
	return -1
}
