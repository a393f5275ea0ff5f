package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// inmateFile is Inmate's config.yaml (github.com/sinanislekdemir/inmate).
// Inmate reads it with a non-strict YAML decoder; influxgate is strict. The
// durations are whole seconds, as Inmate multiplies them by time.Second.
type inmateFile struct {
	Addresses    []inmateAddress `yaml:"addresses"`
	URLs         []string        `yaml:"urls"` // Inmate's first releases: a list of URLs, no tokens
	BindAddress  *string         `yaml:"bind_address"`
	Port         *int            `yaml:"port"`
	RetryCount   *int            `yaml:"retry_count"`
	RetryDelay   *inmateSeconds  `yaml:"retry_delay"`
	QueryTimeout *inmateSeconds  `yaml:"query_timeout"`
	ChannelSize  *int            `yaml:"channel_size"`
	AuthToken    *string         `yaml:"auth_token"`
}

type inmateAddress struct {
	URL   string `yaml:"url"`
	Token string `yaml:"token"`
}

// inmateSeconds is a non-negative whole number of seconds.
type inmateSeconds int

// UnmarshalYAML accepts only a YAML integer >= 0, reporting anything else as
// a type error so that decoding goes on and every problem is collected.
func (s *inmateSeconds) UnmarshalYAML(n *yaml.Node) error {
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil || v < 0 {
		got := strconv.Quote(n.Value)
		if n.Kind != yaml.ScalarNode {
			got = "a YAML " + strings.TrimPrefix(n.ShortTag(), "!!")
		}
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s, got %s", n.Line, secondsWant, got)}}
	}
	*s = inmateSeconds(v)
	return nil
}

const secondsWant = "want a whole number of seconds >= 0 (Inmate's unit)"

// EnvAuthToken is the environment variable that overrides Inmate's
// auth_token, as in Inmate.
const EnvAuthToken = "AUTH_TOKEN"

// Why influxgate accepts and ignores two Inmate keys.
const (
	whyRetryCount = "influxgate retries every backend until the write is delivered " +
		"(backoff up to max-delay-interval); a bounded retry count would drop acknowledged data"
	whyChannelSize = "writes queue in influxgate's on-disk log (bounded by buffer-size-mb), " +
		"not in an in-memory channel"
)

// decodeInmate decodes an Inmate config.yaml and maps it onto one [[http]]
// listener at bind_address:port with one output per address. The returned
// function translates Validate's key paths back into Inmate's key names.
func decodeInmate(name string, data []byte) (cfg Config, keyOf func(string) string,
	lineOf func(string) int, probs problems, fatal bool) {
	yidx := indexYAML(data)
	lineOf = yidx.lineFor
	keyOf = func(k string) string { return k }

	var raw inmateFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&raw)
	var typeErr *yaml.TypeError
	switch {
	case err == nil, errors.Is(err, io.EOF):
	case errors.As(err, &typeErr):
		for _, msg := range typeErr.Errors {
			fe, unknown := yamlProblem(name, msg, yidx)
			probs = append(probs, fe)
			// Unknown keys and bad seconds leave the rest decoded, so the
			// mapping and Validate still run and report what else is wrong.
			fatal = fatal || !(unknown || strings.HasPrefix(fe.Msg, secondsWant))
		}
	default:
		fe, _ := yamlProblem(name, strings.TrimPrefix(err.Error(), "yaml: "), yidx)
		return Config{}, keyOf, lineOf, append(probs, fe), true
	}
	if fatal {
		return Config{}, keyOf, lineOf, probs, true
	}

	add := func(key, format string, args ...any) {
		probs = append(probs, &FieldError{File: name, Line: yidx.lineFor(key), Key: key,
			Msg: fmt.Sprintf(format, args...)})
	}
	cfg = Default()
	cfg.Source = Source{Path: name, Format: FormatInmate}
	h := HTTPConfig{}

	host := ""
	if raw.BindAddress != nil {
		host = *raw.BindAddress
	}
	switch {
	case raw.Port == nil:
		add("port", "required: Inmate listens on bind_address:port")
	case *raw.Port < 1 || *raw.Port > 65535:
		add("port", "want a port number in 1..65535, got %d", *raw.Port)
	default:
		h.BindAddr = net.JoinHostPort(host, strconv.Itoa(*raw.Port))
	}

	type address struct{ key, url, token string }
	var addrs []address
	addrKey := "addresses"
	for i, a := range raw.Addresses {
		addrs = append(addrs, address{fmt.Sprintf("addresses[%d]", i), a.URL, a.Token})
	}
	if len(raw.URLs) > 0 {
		if len(raw.Addresses) > 0 {
			add("urls", "set either addresses or the older urls list, not both")
		} else {
			addrKey = "urls"
			for i, u := range raw.URLs {
				addrs = append(addrs, address{fmt.Sprintf("urls[%d]", i), u, ""})
			}
		}
	}
	if len(addrs) == 0 {
		add("addresses", "at least one InfluxDB address is required")
	}
	urlKey := func(a address) string {
		if addrKey == "urls" {
			return a.key
		}
		return a.key + ".url"
	}
	for _, a := range addrs {
		o := OutputConfig{Token: a.token}
		base := strings.TrimRight(a.url, "/")
		if u, err := url.Parse(base); err != nil || !isHTTPScheme(u.Scheme) || u.Host == "" {
			o.Location = Location(a.url)
			add(urlKey(a), "want an http:// or https:// URL with a host, got %q", o.Location)
		} else {
			// Inmate forwards each request to url + the client's path; which
			// API it reaches depends on the client. influxgate needs one write
			// endpoint per backend: a token means InfluxDB 2.x (Inmate's README:
			// tokens are "required only for InfluxDB v2"), none means 1.x.
			o.Location = Location(base + "/write")
			if a.token != "" {
				o.Location = Location(base + "/api/v2/write")
			}
		}
		if raw.QueryTimeout != nil && *raw.QueryTimeout > 0 {
			o.Timeout = time.Duration(*raw.QueryTimeout) * time.Second
			h.Query.Timeout = o.Timeout
		}
		if raw.RetryDelay != nil && *raw.RetryDelay > 0 {
			o.MaxDelayInterval = time.Duration(*raw.RetryDelay) * time.Second
		}
		h.Outputs = append(h.Outputs, o)
	}

	token := ""
	if raw.AuthToken != nil {
		token = *raw.AuthToken
	}
	if env := os.Getenv(EnvAuthToken); env != "" {
		token = env
	}
	if token != "" {
		h.Auth = AuthConfig{Mode: "gateway", Tokens: []string{token}}
	}
	if raw.RetryCount != nil {
		cfg.Source.Ignored = append(cfg.Source.Ignored, "retry_count: accepted, not used: "+whyRetryCount)
	}
	if raw.ChannelSize != nil {
		cfg.Source.Ignored = append(cfg.Source.Ignored, "channel_size: accepted, not used: "+whyChannelSize)
	}
	cfg.HTTP = []HTTPConfig{h}

	keyOf = func(k string) string {
		if k == "http[0].bind-addr" && h.BindAddr == "" {
			return "port" // already reported above
		}
		return inmateKey(k, addrKey)
	}
	return cfg, keyOf, lineOf, probs, false
}

var inmateKeyRE = regexp.MustCompile(`^http\[0\]\.output\[(\d+)\](?:\.([a-z-]+))?`)

// inmateKey translates a model key path (as Validate names it) into the
// Inmate key the value came from.
func inmateKey(key, addrKey string) string {
	if key == "http[0].bind-addr" {
		return "bind_address"
	}
	if key == "http[0].output" {
		return addrKey
	}
	if strings.HasPrefix(key, "http[0].auth") {
		return "auth_token"
	}
	m := inmateKeyRE.FindStringSubmatch(key)
	if m == nil {
		return key
	}
	elem := addrKey + "[" + m[1] + "]"
	switch m[2] {
	case "location", "name":
		if addrKey == "urls" {
			return elem
		}
		return elem + ".url"
	case "token":
		return elem + ".token"
	case "timeout":
		return "query_timeout"
	case "max-delay-interval":
		return "retry_delay"
	}
	return elem
}

var (
	yamlLineRE    = regexp.MustCompile(`^line (\d+): (.*)$`)
	yamlUnknownRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	yamlTypeRE    = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `.*`)? into (\\S+)$")
)

// yamlProblem turns one yaml.v3 error line into a FieldError with the key
// path found through the line index; unknown reports an unknown-key error.
func yamlProblem(file, msg string, yidx *yamlIndex) (fe *FieldError, unknown bool) {
	fe = &FieldError{File: file, Msg: msg}
	m := yamlLineRE.FindStringSubmatch(msg)
	if m == nil {
		return fe, false
	}
	fe.Line, _ = strconv.Atoi(m[1])
	fe.Msg = m[2]
	if u := yamlUnknownRE.FindStringSubmatch(fe.Msg); u != nil {
		path := yidx.keyAtLine(fe.Line, u[1])
		parent := schemaPath(parentPath(path))
		section := "the top level"
		if parent != "" {
			section = parent
		}
		fe.Key, fe.Unknown = path, true
		fe.Msg = fmt.Sprintf("unknown key %q in %s", u[1], section)
		if s := suggest(u[1], inmateKnownKeys[parent]); s != "" {
			fe.Msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return fe, true
	}
	fe.Key = yidx.valueAtLine(fe.Line)
	if t := yamlTypeRE.FindStringSubmatch(fe.Msg); t != nil {
		want := goTypeWords(t[2])
		switch strings.TrimPrefix(t[2], "*") {
		case "config.inmateFile":
			want = "a mapping of Inmate keys"
		case "config.inmateAddress":
			want = "a mapping with url and token"
		case "config.inmateSeconds":
			want = "a whole number of seconds"
		}
		fe.Msg = fmt.Sprintf("want %s, got YAML %s", want, t[1])
	}
	return fe, false
}

// yamlIndex records where each key of a YAML document is.
type yamlIndex struct {
	keys []yamlKey
}

type yamlKey struct {
	path               string
	keyLine, valueLine int
	lastKey            string
	element            bool // a sequence element, not a mapping key
}

func indexYAML(data []byte) *yamlIndex {
	idx := &yamlIndex{}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return idx
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := joinPath(path, k.Value)
				idx.keys = append(idx.keys, yamlKey{path: p, keyLine: k.Line, valueLine: v.Line, lastKey: k.Value})
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := path + "[" + strconv.Itoa(i) + "]"
				idx.keys = append(idx.keys, yamlKey{path: p, keyLine: c.Line, valueLine: c.Line,
					element: true})
				walk(c, p)
			}
		}
	}
	walk(doc.Content[0], "")
	return idx
}

// keyAtLine finds the path of key name on line; name itself if not found.
func (y *yamlIndex) keyAtLine(line int, name string) string {
	for _, k := range y.keys {
		if k.keyLine == line && k.lastKey == name {
			return k.path
		}
	}
	return name
}

// valueAtLine finds the innermost key whose value starts on line.
func (y *yamlIndex) valueAtLine(line int) string {
	best := ""
	for _, k := range y.keys {
		if k.valueLine == line && !k.element {
			best = k.path
		}
	}
	return best
}

// lineFor returns the line of path, or of its nearest present parent.
func (y *yamlIndex) lineFor(path string) int {
	for path != "" {
		for _, k := range y.keys {
			if k.path == path {
				return k.keyLine
			}
		}
		path = parentPath(path)
	}
	return 0
}
