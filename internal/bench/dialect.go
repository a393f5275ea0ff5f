package bench

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// dialect is how the harness configures and starts one kind of relay: the
// config it writes for a run (the two sinks on loopback, the relay's port),
// the file name and arguments the relay expects, and what it can do.
//
// The settings each peer gets are the ones its own sample config ships
// with, written out in full so the run records what was in force. What the
// peers read was taken from their source (docs/performance.md names the
// commits): influxdb-relay's relay/config.go, influx-proxy's
// backend/config.go, Inmate's config.go.
type dialect struct {
	render     func(RelayConfig) ([]byte, error)
	configName func(relayName string) string
	args       func(configPath string) []string
	// inDir: the relay reads a fixed file from its working directory, so
	// it runs in a directory of its own.
	inDir bool
	env   []string // added to the relay's environment
	// durable: a disk log with a sync policy and /health backlogs.
	durable bool
	// shards: a sharded listener as the shards scenario configures it.
	shards bool
}

var dialects = map[string]dialect{
	KindInfluxgate:    {render: influxgateConfig, configName: suffixed(".toml"), args: configFlag, durable: true, shards: true},
	KindInfluxDBRelay: {render: influxDBRelayConfig, configName: suffixed(".toml"), args: configFlag},
	// influx-proxy picks the parser by the file's extension (viper).
	KindInfluxProxy: {render: influxProxyConfig, configName: suffixed(".json"), args: configFlag},
	// Inmate reads ./config.yaml and takes no flags. GIN_MODE=release is
	// how Gin, its HTTP framework, is meant to run in production.
	KindInmate: {render: inmateConfig, configName: func(string) string { return "config.yaml" },
		args: func(string) []string { return nil }, inDir: true, env: []string{"GIN_MODE=release"}},
}

func suffixed(ext string) func(string) string {
	return func(name string) string { return name + ext }
}

func configFlag(path string) []string { return []string{"-config", path} }

// errNoShards is what a dialect without sharding says of a sharded config;
// the runner does not get that far (it reports the scenario as n/a).
var errNoShards = errors.New("this relay has no sharded listener")

// influxDBRelayBufferMB is influxdb-relay's buffer-size-mb in every run: its
// in-memory retry buffer per backend (0 would retry nothing), the size the
// issue's figures used.
const influxDBRelayBufferMB = 100

// influxgateConfig renders influxgate's native TOML: one [[http]] listener
// with the outputs, or with shard-key and one [[http.shard]] per shard.
func influxgateConfig(rc RelayConfig) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "data-dir = %s\n", strconv.Quote(rc.DataDir))
	if rc.Sync != "" {
		fmt.Fprintf(&b, "sync = %s\n", strconv.Quote(rc.Sync))
	}
	// Warnings (a backend down) are throttled; info would log start-up
	// chatter only, but warn keeps the log small for long runs.
	b.WriteString("\n[log]\nlevel = \"warn\"\n")
	if rc.PProf {
		b.WriteString("\n[debug]\npprof = true\n")
	}
	b.WriteString(rc.LogStore) // the nats-* scenarios' [log-store]
	fmt.Fprintf(&b, "\n[[http]]\nname = \"bench\"\nbind-addr = %s\n", strconv.Quote(rc.Bind))
	if len(rc.Shards) == 0 {
		writeTOMLOutputs(&b, "", rc.Outputs, 0)
		return []byte(b.String()), nil
	}
	fmt.Fprintf(&b, "shard-key = %s\n", strconv.Quote(rc.ShardKey))
	for _, s := range rc.Shards {
		fmt.Fprintf(&b, "\n  [[http.shard]]\n  name = %s\n", strconv.Quote(s.Name))
		writeTOMLOutputs(&b, "  ", s.Outputs, 0)
	}
	return []byte(b.String()), nil
}

// influxDBRelayConfig renders influxdb-relay's TOML (relay/config.go: [[http]]
// with name, bind-addr and output = [{name, location, timeout,
// buffer-size-mb}]).
func influxDBRelayConfig(rc RelayConfig) ([]byte, error) {
	if len(rc.Shards) > 0 {
		return nil, errNoShards
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[[http]]\nname = \"bench\"\nbind-addr = %s\n", strconv.Quote(rc.Bind))
	writeTOMLOutputs(&b, "", rc.Outputs, influxDBRelayBufferMB)
	return []byte(b.String()), nil
}

// writeTOMLOutputs writes an output = [...] array of inline tables, the
// form influxdb-relay's sample uses and influxgate reads too. bufferMB
// applies to outputs that set none (0: leave the key out).
func writeTOMLOutputs(b *strings.Builder, indent string, outs []Output, bufferMB int) {
	fmt.Fprintf(b, "%soutput = [\n", indent)
	for _, o := range outs {
		fmt.Fprintf(b, "%s  { name = %s, location = %s, timeout = \"10s\"", indent, strconv.Quote(o.Name), strconv.Quote(o.WriteURL()))
		if mb := cmp.Or(o.BufferMB, bufferMB); mb > 0 {
			fmt.Fprintf(b, ", buffer-size-mb = %d", mb)
		}
		b.WriteString(" },\n")
	}
	fmt.Fprintf(b, "%s]\n", indent)
}

// influxProxyFile is the part of influx-proxy's ProxyConfig
// (backend/config.go, keys as its mapstructure tags) that the harness sets.
type influxProxyFile struct {
	Circles         []influxProxyCircle `json:"circles"`
	ListenAddr      string              `json:"listen_addr"`
	DBList          []string            `json:"db_list"`
	DataDir         string              `json:"data_dir"`
	TLogDir         string              `json:"tlog_dir"`
	HashKey         string              `json:"hash_key"`
	ShardKey        string              `json:"shard_key"`
	FlushSize       int                 `json:"flush_size"`
	FlushTime       int                 `json:"flush_time"`
	CheckInterval   int                 `json:"check_interval"`
	RewriteInterval int                 `json:"rewrite_interval"`
	RewriteThreads  int                 `json:"rewrite_threads"`
	ConnPoolSize    int                 `json:"conn_pool_size"`
	WriteTimeout    int                 `json:"write_timeout"`
	IdleTimeout     int                 `json:"idle_timeout"`
}

type influxProxyCircle struct {
	Name     string               `json:"name"`
	Backends []influxProxyBackend `json:"backends"`
}

type influxProxyBackend struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// influxProxyConfig renders influx-proxy's JSON. A circle is a full copy
// of the data (influx-proxy shards a circle's data over its backends), so
// two replicas are two circles of one backend each. Backends are base URLs:
// influx-proxy checks each with GET /ping (204 = active) every
// check_interval seconds and writes gzip bodies to /write?db=&rp=. An
// empty db_list lets every database through. Writes are buffered per
// backend (flush_size lines or flush_time seconds) and answered 204 before
// any backend saw them; a failed flush goes to a file under data_dir and
// is re-sent every rewrite_interval seconds.
func influxProxyConfig(rc RelayConfig) ([]byte, error) {
	if len(rc.Shards) > 0 {
		return nil, errNoShards
	}
	f := influxProxyFile{ListenAddr: rc.Bind, DBList: []string{}, DataDir: rc.DataDir,
		TLogDir: filepath.Join(rc.DataDir, "tlog"), HashKey: "idx", ShardKey: "%db,%mm",
		FlushSize: 10000, FlushTime: 1, CheckInterval: 1, RewriteInterval: 10, RewriteThreads: 5,
		ConnPoolSize: 20, WriteTimeout: 10, IdleTimeout: 10}
	for _, o := range rc.Outputs {
		f.Circles = append(f.Circles, influxProxyCircle{Name: "circle-" + o.Name,
			Backends: []influxProxyBackend{{Name: o.Name, URL: o.BaseURL()}}})
	}
	b, err := json.MarshalIndent(f, "", "  ")
	return append(b, '\n'), err
}

// inmateFile is Inmate's InfluxDBConfig (config.go, keys as its yaml tags)
// without auth_token: the bench clients send no credentials.
type inmateFile struct {
	Addresses    []inmateAddress `yaml:"addresses"`
	BindAddress  string          `yaml:"bind_address"`
	Port         int             `yaml:"port"`
	RetryCount   int             `yaml:"retry_count"`
	RetryDelay   int             `yaml:"retry_delay"`
	QueryTimeout int             `yaml:"query_timeout"`
	ChannelSize  int             `yaml:"channel_size"`
}

type inmateAddress struct {
	URL   string `yaml:"url"`
	Token string `yaml:"token,omitempty"`
}

// inmateConfig renders Inmate's config.yaml. Addresses are base URLs:
// Inmate forwards each request's path (/write) and query string to every
// address through a channel of channel_size writes per address, answering
// 204 as soon as the write is queued; it proxies /ping to a random address.
// The values are those of Inmate's sample config.
func inmateConfig(rc RelayConfig) ([]byte, error) {
	if len(rc.Shards) > 0 {
		return nil, errNoShards
	}
	host, port, err := net.SplitHostPort(rc.Bind)
	if err != nil {
		return nil, fmt.Errorf("bind %q: %w", rc.Bind, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("bind %q: port: %w", rc.Bind, err)
	}
	f := inmateFile{BindAddress: host, Port: p, RetryCount: 120, RetryDelay: 1, QueryTimeout: 5, ChannelSize: 1000}
	for _, o := range rc.Outputs {
		f.Addresses = append(f.Addresses, inmateAddress{URL: o.BaseURL()})
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
