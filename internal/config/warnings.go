package config

import (
	"fmt"
	"strings"
)

// NotYetActive lists features whose keys parse and validate but which this
// build does not act on yet, keyed by feature, with the reason Warnings()
// gives. Delete a feature's entry when it lands; its warning disappears.
//
// Features that can be listed (Warnings checks for each):
//
//	"auth"          [http.auth] mode = "gateway"
//	"backend-auth"  output username/password (influxdb-relay: http-user/http-pass) and token
//	"tls-backend"   output ca-file
var NotYetActive = map[string]string{}

// Warnings lists keys that are accepted but have no effect in this build,
// each with why: keys kept only for compatibility (Source.Ignored), features
// listed in NotYetActive, and output locations whose path is neither /write
// nor /api/v2/write. It also lists what makes a config open to more people
// than its author may think (authWarnings). A config with warnings is valid.
func (c *Config) Warnings() []string {
	w := append([]string(nil), c.Source.Ignored...)
	notYet := func(feature, key string) {
		if why, ok := NotYetActive[feature]; ok {
			w = append(w, key+": "+why)
		}
	}
	for i, h := range c.HTTP {
		key := fmt.Sprintf("http[%d]", i)
		if h.Auth.Mode == "gateway" {
			notYet("auth", key+`.auth.mode = "gateway"`)
		}
		w = append(w, outputWarnings(key, h.AllOutputs(), notYet)...)
	}
	for i, u := range c.UDP {
		key := fmt.Sprintf("udp[%d]", i)
		w = append(w, outputWarnings(key, u.Outputs, notYet)...)
	}
	w = append(w, c.LogStore.warnings()...)
	return append(w, c.authWarnings()...)
}

func outputWarnings(listener string, outs []OutputConfig, notYet func(feature, key string)) []string {
	var w []string
	for j, o := range outs {
		key := fmt.Sprintf("%s.output[%d]", listener, j)
		if o.Username != "" || o.Password != "" {
			notYet("backend-auth", key+".username/password")
		}
		if o.Token != "" {
			notYet("backend-auth", key+".token")
		}
		if o.CAFile != "" {
			notYet("tls-backend", key+".ca-file")
		}
		if !isHTTPURL(o.Location) {
			continue
		}
		// "/write" also covers "/api/v2/write" and both behind a proxy prefix.
		if u, err := o.Location.URL(); err == nil && !strings.HasSuffix(u.Path, "/write") {
			w = append(w, fmt.Sprintf("%s.location: path %q is neither /write nor /api/v2/write; "+
				"influxgate posts writes to it as given", key, u.Path))
		}
	}
	return w
}
