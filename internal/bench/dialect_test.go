package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
	"gopkg.in/yaml.v3"

	"github.com/influxgate/influxgate/internal/config"
)

// benchRelayConfig is a run's config as the runner builds it.
func benchRelayConfig() RelayConfig {
	return RelayConfig{Bind: "127.0.0.1:9999", DataDir: "/tmp/x y", Sync: "batch", Outputs: []Output{
		{Name: "sink-1", Addr: "127.0.0.1:1"},
		{Name: "sink-2", Addr: "127.0.0.1:2", BufferMB: 64}}}
}

func render(t *testing.T, kind string, rc RelayConfig) []byte {
	t.Helper()
	text, err := dialects[kind].render(rc)
	if err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
	return text
}

// influxgate's config and influxdb-relay's load with influxgate's own
// strict loader, in the dialect the relay kind claims.
func TestTOMLConfigsLoad(t *testing.T) {
	rc := benchRelayConfig()
	for _, tc := range []struct {
		kind     string
		format   config.Format
		bufferMB int // of sink-1, which sets none
	}{{KindInfluxgate, config.FormatNative, 0}, {KindInfluxDBRelay, config.FormatRelay, influxDBRelayBufferMB}} {
		text := render(t, tc.kind, rc)
		cfg, err := config.LoadBytes("bench.toml", text)
		if err != nil {
			t.Fatalf("%s config does not load: %v\n%s", tc.kind, err, text)
		}
		if cfg.Source.Format != tc.format {
			t.Errorf("%s config loads as %s", tc.kind, cfg.Source.Format)
		}
		if len(cfg.HTTP) != 1 || cfg.HTTP[0].BindAddr != rc.Bind || len(cfg.HTTP[0].Outputs) != 2 {
			t.Fatalf("%s config: %+v", tc.kind, cfg.HTTP)
		}
		out := cfg.HTTP[0].Outputs
		if out[0].Location.Reveal() != "http://127.0.0.1:1/write" || out[1].Name != "sink-2" || out[1].BufferSizeMB != 64 || out[0].BufferSizeMB != tc.bufferMB {
			t.Errorf("%s outputs: %+v", tc.kind, out)
		}
		if tc.kind == KindInfluxgate && (cfg.Sync != "batch" || cfg.DataDir != rc.DataDir || cfg.Debug.PProf) {
			t.Errorf("influxgate config: sync %q, data-dir %q, pprof %v", cfg.Sync, cfg.DataDir, cfg.Debug.PProf)
		}
	}
	// -trace turns on influxgate's profiler.
	rc.PProf = true
	text := render(t, KindInfluxgate, rc)
	cfg, err := config.LoadBytes("bench.toml", text)
	if err != nil || !cfg.Debug.PProf {
		t.Errorf("with PProf the influxgate config does not serve pprof (%v):\n%s", err, text)
	}
}

// influxdb-relay's keys, from its relay/config.go: a key it does not know
// would be ignored by it, so the config is decoded strictly against them.
type influxDBRelayKeys struct {
	HTTP []struct {
		Name                   string `toml:"name"`
		BindAddr               string `toml:"bind-addr"`
		SSLCombinedPEM         string `toml:"ssl-combined-pem"`
		DefaultRetentionPolicy string `toml:"default-retention-policy"`
		Output                 []struct {
			Name                string `toml:"name"`
			Location            string `toml:"location"`
			Timeout             string `toml:"timeout"`
			BufferSizeMB        int    `toml:"buffer-size-mb"`
			MaxBatchKB          int    `toml:"max-batch-kb"`
			MaxDelayInterval    string `toml:"max-delay-interval"`
			SkipTLSVerification bool   `toml:"skip-tls-verification"`
		} `toml:"output"`
	} `toml:"http"`
}

func TestInfluxDBRelayConfigHasOnlyItsKeys(t *testing.T) {
	text := render(t, KindInfluxDBRelay, benchRelayConfig())
	var got influxDBRelayKeys
	if err := toml.NewDecoder(bytes.NewReader(text)).DisallowUnknownFields().Decode(&got); err != nil {
		t.Fatalf("not influxdb-relay's TOML: %v\n%s", err, text)
	}
	if len(got.HTTP) != 1 || got.HTTP[0].BindAddr != "127.0.0.1:9999" || len(got.HTTP[0].Output) != 2 {
		t.Fatalf("decoded %+v", got)
	}
	for _, o := range got.HTTP[0].Output {
		if o.Timeout != "10s" || o.BufferSizeMB == 0 || !strings.HasSuffix(o.Location, "/write") {
			t.Errorf("output %+v", o)
		}
	}
}

// influx-proxy's keys, from its backend/config.go (mapstructure tags;
// viper decodes the JSON). Decoding strictly into them shows the config
// uses no key it would ignore, with the types it expects.
type influxProxyKeys struct {
	Circles []struct {
		Name     string `json:"name"`
		Backends []struct {
			Name        string `json:"name"`
			URL         string `json:"url"`
			Username    string `json:"username"`
			Password    string `json:"password"`
			AuthEncrypt bool   `json:"auth_encrypt"`
			WriteOnly   bool   `json:"write_only"`
		} `json:"backends"`
	} `json:"circles"`
	ListenAddr      string   `json:"listen_addr"`
	DBList          []string `json:"db_list"`
	DataDir         string   `json:"data_dir"`
	TLogDir         string   `json:"tlog_dir"`
	HashKey         string   `json:"hash_key"`
	ShardKey        string   `json:"shard_key"`
	FlushSize       int      `json:"flush_size"`
	FlushTime       int      `json:"flush_time"`
	CheckInterval   int      `json:"check_interval"`
	RewriteInterval int      `json:"rewrite_interval"`
	RewriteThreads  int      `json:"rewrite_threads"`
	ConnPoolSize    int      `json:"conn_pool_size"`
	WriteTimeout    int      `json:"write_timeout"`
	IdleTimeout     int      `json:"idle_timeout"`
	Username        string   `json:"username"`
	Password        string   `json:"password"`
	AuthEncrypt     bool     `json:"auth_encrypt"`
	PingAuthEnabled bool     `json:"ping_auth_enabled"`
	WriteTracing    bool     `json:"write_tracing"`
	QueryTracing    bool     `json:"query_tracing"`
	PprofEnabled    bool     `json:"pprof_enabled"`
	HTTPSEnabled    bool     `json:"https_enabled"`
	HTTPSCert       string   `json:"https_cert"`
	HTTPSKey        string   `json:"https_key"`
}

func TestInfluxProxyConfig(t *testing.T) {
	rc := benchRelayConfig()
	text := render(t, KindInfluxProxy, rc)
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	var got influxProxyKeys
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("not influx-proxy's JSON: %v\n%s", err, text)
	}
	// influx-proxy's checkConfig: circles, each with backends, every
	// backend named, names unique; a known hash_key; a shard_key with %db
	// or %mm.
	if len(got.Circles) != 2 {
		t.Fatalf("want one circle (full copy) per sink, got %d", len(got.Circles))
	}
	names := map[string]bool{}
	for i, c := range got.Circles {
		if len(c.Backends) != 1 {
			t.Fatalf("circle %d has %d backends, want 1 (no sharding inside a replica)", i, len(c.Backends))
		}
		be := c.Backends[0]
		if be.Name == "" || names[be.Name] {
			t.Errorf("backend name %q empty or repeated", be.Name)
		}
		names[be.Name] = true
		// influx-proxy appends /ping, /write and /query to the url itself.
		u, err := url.Parse(be.URL)
		if err != nil || u.Scheme != "http" || u.Host != rc.Outputs[i].Addr || u.Path != "" {
			t.Errorf("backend url %q, want the base URL of %s", be.URL, rc.Outputs[i].Addr)
		}
	}
	if got.HashKey != "idx" || !strings.Contains(got.ShardKey, "%db") && !strings.Contains(got.ShardKey, "%mm") {
		t.Errorf("hash_key %q, shard_key %q", got.HashKey, got.ShardKey)
	}
	if got.ListenAddr != rc.Bind || got.DataDir != rc.DataDir || !strings.HasPrefix(got.TLogDir, rc.DataDir) {
		t.Errorf("listen_addr %q, data_dir %q, tlog_dir %q", got.ListenAddr, got.DataDir, got.TLogDir)
	}
	// An empty db_list lets every database through; null would be read the
	// same, but the sample writes [].
	if got.DBList == nil || len(got.DBList) != 0 || !bytes.Contains(text, []byte(`"db_list": []`)) {
		t.Errorf("db_list %v", got.DBList)
	}
	if got.FlushSize <= 0 || got.FlushTime <= 0 || got.ConnPoolSize <= 0 || got.WriteTimeout <= 0 || got.CheckInterval <= 0 {
		t.Errorf("zero setting (influx-proxy would put its default in): %+v", got)
	}
}

// Inmate's keys, from its config.go (yaml tags).
type inmateKeys struct {
	Addresses []struct {
		URL   string `yaml:"url"`
		Token string `yaml:"token"`
	} `yaml:"addresses"`
	Port         int    `yaml:"port"`
	BindAddress  string `yaml:"bind_address"`
	RetryDelay   int    `yaml:"retry_delay"`
	RetryCount   int    `yaml:"retry_count"`
	QueryTimeout int    `yaml:"query_timeout"`
	ChannelSize  int    `yaml:"channel_size"`
	AuthToken    string `yaml:"auth_token"`
}

func TestInmateConfig(t *testing.T) {
	rc := benchRelayConfig()
	text := render(t, KindInmate, rc)
	dec := yaml.NewDecoder(bytes.NewReader(text))
	dec.KnownFields(true)
	var got inmateKeys
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("not Inmate's YAML: %v\n%s", err, text)
	}
	if got.BindAddress != "127.0.0.1" || got.Port != 9999 || len(got.Addresses) != 2 {
		t.Fatalf("decoded %+v", got)
	}
	for i, a := range got.Addresses {
		// Inmate appends the request's path (/write) to the url.
		if a.URL != "http://"+rc.Outputs[i].Addr || a.Token != "" {
			t.Errorf("address %d: %+v", i, a)
		}
	}
	// channel_size 0 would be an unbuffered channel; retry_delay and
	// query_timeout are whole seconds.
	if got.ChannelSize <= 0 || got.RetryDelay <= 0 || got.RetryCount <= 0 || got.QueryTimeout <= 0 || got.AuthToken != "" {
		t.Errorf("settings %+v", got)
	}
	// influxgate reads Inmate's format too, strictly: the same file must
	// load there, with one output per address.
	cfg, err := config.LoadBytes("config.yaml", text)
	if err != nil {
		t.Fatalf("influxgate's Inmate reader: %v\n%s", err, text)
	}
	if cfg.Source.Format != config.FormatInmate || len(cfg.HTTP) != 1 || len(cfg.HTTP[0].Outputs) != 2 ||
		cfg.HTTP[0].Outputs[1].Location.Reveal() != "http://127.0.0.1:2/write" {
		t.Errorf("loaded as %s: %+v", cfg.Source.Format, cfg.HTTP)
	}
}

// The shards scenario's config: influxgate's sharded listener with the
// shape of docs/sharding.md; the other dialects refuse it.
func TestShardedConfig(t *testing.T) {
	sc, err := FindScenarios("shards", false)
	if err != nil {
		t.Fatal(err)
	}
	set, err := startRunSinks(sc[0])
	defer set.close()
	if err != nil {
		t.Fatal(err)
	}
	rc := set.rc
	rc.Bind, rc.DataDir = "127.0.0.1:9999", t.TempDir()
	text := render(t, KindInfluxgate, rc)
	cfg, err := config.LoadBytes("bench.toml", text)
	if err != nil {
		t.Fatalf("sharded config does not load: %v\n%s", err, text)
	}
	h := cfg.HTTP[0]
	if !h.Sharded() || h.ShardKey != "measurement" || len(h.Shards) != 2 || len(h.Outputs) != 0 {
		t.Fatalf("listener %+v", h)
	}
	for j, s := range h.Shards {
		if len(s.Outputs) != 2 || s.Name != rc.Shards[j].Name {
			t.Fatalf("shard %d: %+v", j, s)
		}
		for k, o := range s.Outputs {
			if want := rc.Shards[j].Outputs[k].WriteURL(); o.Location.Reveal() != want {
				t.Errorf("shard %s output %d: %s, want %s", s.Name, k, o.Location.Reveal(), want)
			}
		}
	}
	for _, kind := range []string{KindInfluxDBRelay, KindInfluxProxy, KindInmate} {
		if _, err := dialects[kind].render(rc); !errors.Is(err, errNoShards) {
			t.Errorf("%s renders a sharded config: %v", kind, err)
		}
	}
}
