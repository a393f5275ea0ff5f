package config

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func TestUnknownKeyNamesKeyAndLine(t *testing.T) {
	tests := []struct {
		name, file, data string
		line             int
		key, want        string
	}{
		{
			name: "top level",
			file: "c.toml",
			data: "data-dir = \"/d\"\n\nsnyc = \"always\"\n[[http]]\nbind-addr = \":1\"\n" + twoOutputs,
			line: 3, key: "snyc", want: `c.toml:3: unknown key "snyc" in the top level; did you mean "sync"?`,
		},
		{
			name: "in [[http]]",
			file: "examples/bad.toml",
			data: "# relay\n[[http]]\nname = \"x\"\n" + twoOutputs + "bind-adr = \"127.0.0.1:9096\"\n",
			line: 8, key: "http[0].bind-adr",
			want: `examples/bad.toml:8: unknown key "bind-adr" in [[http]]; did you mean "bind-addr"?`,
		},
		{
			name: "in the second [[http]]",
			file: "c.toml",
			data: "[[http]]\nbind-addr = \":1\"\n" + twoOutputs + "[[http]]\nbind-addr = \":2\"\nlisten = 1\n" + twoOutputs,
			line: 9, key: "http[1].listen", want: `unknown key "listen" in [[http]]`,
		},
		{
			name: "in an output inline table",
			file: "c.toml",
			data: "[[http]]\nbind-addr = \":1\"\noutput = [\n  { name = \"a\", location = \"http://h:1/write\" },\n  { name = \"b\", location = \"http://h:2/write\", timout = \"1s\" },\n]\n",
			line: 5, key: "http[0].output[1].timout",
			want: `c.toml:5: unknown key "timout" in [[http]] output; did you mean "timeout"?`,
		},
		{
			name: "in an [[http.output]] table",
			file: "c.toml",
			data: "[[http]]\nbind-addr = \":1\"\n[[http.output]]\nlocation = \"http://h:1/write\"\nbufer-size-mb = 5\n",
			line: 5, key: "http[0].output[0].bufer-size-mb", want: `did you mean "buffer-size-mb"?`,
		},
		{
			name: "in [http.auth]",
			file: "c.toml",
			data: "[[http]]\nbind-addr = \":1\"\n" + twoOutputs + "[http.auth]\nmode = \"gateway\"\ntoken = [\"t\"]\n",
			line: 9, key: "http[0].auth.token", want: `unknown key "token" in [http.auth]; did you mean "tokens"?`,
		},
		{
			name: "in [[udp]]",
			file: "c.toml",
			data: "[[udp]]\nbind-addr = \":1\"\nprecison = \"s\"\noutput = [{ location = \"h:1\" }]\n",
			line: 3, key: "udp[0].precison", want: `unknown key "precison" in [[udp]]; did you mean "precision"?`,
		},
		{
			name: "in a [[udp]] output",
			file: "c.toml",
			data: "[[udp]]\nbind-addr = \":1\"\noutput = [\n  { location = \"h:1\", mut = 512 },\n]\n",
			line: 4, key: "udp[0].output[0].mut", want: `unknown key "mut" in [[udp]] output; did you mean "mtu"?`,
		},
		{
			name: "in [log]",
			file: "c.toml",
			data: "[log]\nlevel = \"info\"\nformatt = \"json\"\n[[http]]\nbind-addr = \":1\"\n" + twoOutputs,
			line: 3, key: "log.formatt", want: `unknown key "formatt" in [log]; did you mean "format"?`,
		},
		{
			name: "YAML top level",
			file: "config.yaml",
			data: "addresses:\n  - url: http://a:8086\nport: 8080\nbind_adress: 0.0.0.0\n",
			line: 4, key: "bind_adress",
			want: `config.yaml:4: unknown key "bind_adress" in the top level; did you mean "bind_address"?`,
		},
		{
			name: "YAML address entry",
			file: "config.yaml",
			data: "addresses:\n  - url: http://a:8086\n  - url: http://b:8086\n    tokn: x\nport: 8080\n",
			line: 4, key: "addresses[1].tokn", want: `unknown key "tokn" in addresses; did you mean "token"?`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := problemFor(t, loadProblems(t, tc.file, tc.data), tc.key)
			if !p.Unknown {
				t.Errorf("problem %q is not marked Unknown", p)
			}
			if p.Line != tc.line {
				t.Errorf("line = %d, want %d (%s)", p.Line, tc.line, p)
			}
			wantMsg(t, p, tc.want)
		})
	}
}

func TestLoadFileNamesPathInMessages(t *testing.T) {
	_, err := Load("testdata/bad.toml")
	probs := FieldErrors(err)
	if len(probs) != 2 {
		t.Fatalf("want the unknown key and the missing bind-addr, got %d problems: %v", len(probs), err)
	}
	wantMsg(t, probs[0], `testdata/bad.toml:7: unknown key "bind-adr" in [[http]]`)
	wantMsg(t, problemFor(t, probs, "http[0].bind-addr"), "testdata/bad.toml:2: http[0].bind-addr: required")
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.toml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("want fs.ErrNotExist, got %v", err)
	}
}

func TestBadDurationNamesKeyAndLine(t *testing.T) {
	data := "write-timeout = \"10\"\n[[http]]\nbind-addr = \":1\"\noutput = [\n" +
		"  { name = \"a\", location = \"http://h:1/write\", timeout = \"5 s\" },\n" +
		"  { name = \"b\", location = \"http://h:2/write\", max-delay-interval = \"0s\" },\n]\n"
	probs := loadProblems(t, "d.toml", data)
	wantMsg(t, problemFor(t, probs, "write-timeout"), `d.toml:1: write-timeout: invalid duration "10"`)
	wantMsg(t, problemFor(t, probs, "http[0].output[0].timeout"),
		`d.toml:5: http[0].output[0].timeout: invalid duration "5 s"`, `such as "10s"`)
	wantMsg(t, problemFor(t, probs, "http[0].output[1].max-delay-interval"),
		`d.toml:6:`, `must be greater than 0, got "0s"`)
	if len(probs) != 3 {
		t.Errorf("want exactly 3 problems (no duplicate from Validate), got %d: %v", len(probs), probs)
	}
}

func TestTypeAndSyntaxErrors(t *testing.T) {
	tests := []struct{ name, data, key, want string }{
		{"string for int", "[[http]]\nbind-addr = \":1\"\n[[http.output]]\nlocation = \"http://h:1\"\nmax-batch-kb = \"big\"\n",
			"http[0].output[0].max-batch-kb", "t.toml:5: http[0].output[0].max-batch-kb: want an integer, got a TOML string"},
		{"int for string", "data-dir = 5\n", "data-dir", "t.toml:1: data-dir: want a string"},
		{"syntax", "[[http]\nbind-addr = \":1\"\n", "", "t.toml:1: expected ']]'"},
		{"duplicate key", "sync = \"always\"\nsync = \"none\"\n", "sync", "t.toml:2: sync: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			probs := loadProblems(t, "t.toml", tc.data)
			if len(probs) != 1 {
				t.Fatalf("a fatal decode error must be the only problem, got %d: %v", len(probs), probs)
			}
			if probs[0].Key != tc.key {
				t.Errorf("key = %q, want %q", probs[0].Key, tc.key)
			}
			wantMsg(t, probs[0], tc.want)
		})
	}
}

func TestMultipleProblemsAllReported(t *testing.T) {
	data := `sync = "sometimes"
sync-interval = "fast"
[[http]]
name = "a"
bind-addr = "127.0.0.1:9096"
color = "blue"
output = [
    { name = "x", location = "ftp://h/write" },
    { name = "x", location = "http://h:1/write", overflow = "block" },
]
[[http]]
name = "a"
bind-addr = "127.0.0.1:9096"
[[udp]]
bind-addr = "nowhere"
output = [{ location = "h:1", mtu = 70000 }]
`
	probs := loadProblems(t, "m.toml", data)
	want := map[string]int{ // key → line
		"http[0].color":              6,
		"sync-interval":              2,
		"sync":                       1,
		"http[1].name":               12,
		"http[0].output[0].location": 8,
		"http[0].output[1].name":     9,
		"http[0].output[1].overflow": 9,
		"http[1].output":             11,
		"http[1].bind-addr":          13,
		"udp[0].bind-addr":           15,
		"udp[0].output[0].mtu":       16,
	}
	for key, line := range want {
		if p := problemFor(t, probs, key); p.Line != line {
			t.Errorf("%s: line %d, want %d", key, p.Line, line)
		}
	}
	if len(probs) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(probs), len(want), errors.Join(asErrors(probs)...))
	}
	wantMsg(t, problemFor(t, probs, "http[1].bind-addr"), `clashes with http[0].bind-addr "127.0.0.1:9096"`)
}

func asErrors(probs []*FieldError) []error {
	out := make([]error, len(probs))
	for i, p := range probs {
		out[i] = p
	}
	return out
}

func TestFormatDetection(t *testing.T) {
	relay := "[[http]]\nname = \"r\"\nbind-addr = \":1\"\n" + twoOutputs +
		"[[udp]]\nbind-addr = \":1\"\nread-buffer = 0\nprecision = \"s\"\noutput = [{ name = \"u\", location = \"h:1\", mtu = 512 }]\n"
	tests := []struct {
		name, file, data string
		want             Format
	}{
		{"relay keys only", "relay.toml", relay, FormatRelay},
		{"relay with http-user", "r.toml", "[[http]]\nbind-addr = \":1\"\noutput = [{ location = \"http://h:1/write\", http-user = \"u\", http-pass = \"p\" }]\n", FormatRelay},
		{"one native top-level key", "n.toml", "data-dir = \"/d\"\n" + relay, FormatNative},
		{"one native output key", "n.toml", "[[http]]\nbind-addr = \":1\"\noutput = [{ location = \"http://h:1/write\", overflow = \"reject\" }]\n", FormatNative},
		{"native table", "n.toml", relay + "[log]\nlevel = \"debug\"\n", FormatNative},
		{"yaml by extension", "inmate.yml", "urls: [\"http://h:1\"]\nport: 8080\n", FormatInmate},
		{"toml sniffed", "relay.conf", relay, FormatRelay},
		{"yaml sniffed", "config", "# Inmate\naddresses:\n  - url: http://h:1\nport: 8080\n", FormatInmate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvAuthToken, "")
			if got := mustLoad(t, tc.file, tc.data).Source.Format; got != tc.want {
				t.Errorf("format = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDefaultsAndNames(t *testing.T) {
	data := `[[http]]
bind-addr = ":1"
output = [
    { location = "http://db1:8086" },
    { location = "http://db1:8086/api/v2/write", token = "t" },
    { name = "db1:8086-2", location = "https://db2:8086/" },
]
[[http]]
bind-addr = ":2"
output = [{ location = "http://db1:8086/write" }]
[[http]]
name = "http"
bind-addr = ":3"
output = [{ location = "http://db1:8086/write" }]
[[udp]]
bind-addr = ":1"
output = [{ location = "db1:8089" }]
`
	cfg := mustLoad(t, "d.toml", data)
	def := Default()
	if cfg.DataDir != def.DataDir || cfg.Sync != "always" || cfg.SyncInterval != 100*time.Millisecond ||
		cfg.Consistency != "any" || cfg.WriteTimeout != 10*time.Second || cfg.MaxBodySize != 25000000 ||
		cfg.ShutdownTimeout != 30*time.Second || cfg.Log != (LogConfig{"info", "text"}) || cfg.WriteMemoryBudgetMB != 128 {
		t.Errorf("top-level defaults not applied: %+v", cfg)
	}
	// Unnamed listeners skip the name an explicit one already took.
	names := []string{cfg.HTTP[0].Name, cfg.HTTP[1].Name, cfg.HTTP[2].Name, cfg.UDP[0].Name}
	if strings.Join(names, ",") != "http-2,http-3,http,udp" {
		t.Errorf("listener names = %v", names)
	}
	outs := cfg.HTTP[0].Outputs
	if outs[0].Name != "db1:8086" || outs[1].Name != "db1:8086-3" || outs[2].Name != "db1:8086-2" {
		t.Errorf("output names = %q, %q, %q", outs[0].Name, outs[1].Name, outs[2].Name)
	}
	if outs[0].Location != "http://db1:8086/write" || outs[2].Location != "https://db2:8086/write" ||
		outs[1].Location != "http://db1:8086/api/v2/write" {
		t.Errorf("locations = %q, %q, %q", outs[0].Location, outs[1].Location, outs[2].Location)
	}
	o := outs[0]
	if o.Timeout != 10*time.Second || o.MaxBatchKB != 512 || o.MaxDelayInterval != 10*time.Second ||
		o.Overflow != "drop-oldest" || o.BufferSizeMB != 0 || o.MTU != 0 {
		t.Errorf("HTTP output defaults: %+v", o)
	}
	h := cfg.HTTP[0]
	if h.DefaultPingResponse != 204 || h.Auth.Mode != "pass-through" {
		t.Errorf("listener defaults: ping %d, auth %q", h.DefaultPingResponse, h.Auth.Mode)
	}
	u := cfg.UDP[0]
	if u.Precision != "n" || u.Outputs[0].MTU != 1024 || u.Outputs[0].Timeout != 0 || u.Outputs[0].Name != "db1:8089" {
		t.Errorf("UDP defaults: %+v", u)
	}
}

func TestExplicitTopLevelValuesOverrideDefaults(t *testing.T) {
	cfg := mustLoad(t, "n.toml", `data-dir = "/var/lib/ig"
sync = "batch"
sync-interval = "250ms"
consistency = "quorum"
write-timeout = "3s"
max-body-size = 0
write-memory-budget-mb = 64
shutdown-timeout = "1m"
[log]
level = "debug"
format = "json"
[[http]]
bind-addr = ":1"
`+twoOutputs)
	want := Config{DataDir: "/var/lib/ig", Sync: "batch", SyncInterval: 250 * time.Millisecond,
		Consistency: "quorum", WriteTimeout: 3 * time.Second, MaxBodySize: 0,
		ShutdownTimeout: time.Minute, Log: LogConfig{"debug", "json"}}
	got := *cfg
	got.HTTP, got.UDP, got.Source = nil, nil, Source{}
	if got.DataDir != want.DataDir || got.Sync != want.Sync || got.SyncInterval != want.SyncInterval ||
		got.Consistency != want.Consistency || got.WriteTimeout != want.WriteTimeout ||
		got.MaxBodySize != want.MaxBodySize || got.ShutdownTimeout != want.ShutdownTimeout || got.Log != want.Log ||
		got.WriteMemoryBudgetMB != 64 {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// max-body-size beyond what one log record holds, or beyond what the
// write memory budget can hold, is reported with the key and its line.
func TestBodySizeProblemsNameKeyAndLine(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"above a log record", "data-dir = \"/d\"\nmax-body-size = 300000000\nwrite-memory-budget-mb = 1024\n",
			"b.toml:2: max-body-size: 300000000 is above 268435456 bytes, the largest write the log holds as one record"},
		{"above the budget", "data-dir = \"/d\"\n\nmax-body-size = 100000000\n",
			"b.toml:3: max-body-size: max-body-size = 100000000 needs write-memory-budget-mb = 287 or more (got 128)"},
		{"budget too small", "data-dir = \"/d\"\nwrite-memory-budget-mb = 16\n",
			"b.toml:2: write-memory-budget-mb: max-body-size = 25000000 needs write-memory-budget-mb = 72 or more (got 16)"},
		{"budget zero", "write-memory-budget-mb = 0\nmax-body-size = 0\n",
			"b.toml:1: write-memory-budget-mb: must be at least 1 (MiB), got 0"},
	}
	for _, tc := range tests {
		probs := loadProblems(t, "b.toml", tc.data+"[[http]]\nbind-addr = \":1\"\n"+twoOutputs)
		if len(probs) != 1 || !strings.HasPrefix(probs[0].Error(), tc.want) {
			t.Errorf("%s: got %v, want one problem starting %q", tc.name, probs, tc.want)
		}
	}
}

func TestRelayCompatibilityKeys(t *testing.T) {
	t.Run("http-user and http-pass are the backend's credentials", func(t *testing.T) {
		cfg := mustLoad(t, "r.toml", "[[http]]\nbind-addr = \":1\"\noutput = [{ location = \"http://h:1/write\", http-user = \"u\", http-pass = \"p\" }]\n")
		if o := cfg.HTTP[0].Outputs[0]; o.Username != "u" || o.Password != "p" {
			t.Errorf("username/password = %q/%q", o.Username, o.Password)
		}
	})
	t.Run("both spellings at once", func(t *testing.T) {
		probs := loadProblems(t, "r.toml", "[[http]]\nbind-addr = \":1\"\noutput = [\n{ location = \"http://h:1/write\", http-user = \"u\", username = \"v\", password = \"p\" },\n]\n")
		p := problemFor(t, probs, "http[0].output[0].http-user")
		if p.Line != 4 {
			t.Errorf("line = %d, want 4", p.Line)
		}
	})
	t.Run("fork keys are accepted and listed as ignored", func(t *testing.T) {
		cfg := mustLoad(t, "f.toml", "[[http]]\nbind-addr = \":1\"\nrate-limit = 5\nburst-limit = 10\nhealth-timeout-ms = 1000\ndefault-ping-response = 200\n"+
			"output = [{ location = \"http://h:1/write\", admin = \"http://h:1/query\", type = \"influxdb\" }]\n")
		if cfg.Source.Format != FormatRelay {
			t.Errorf("format = %q, want relay", cfg.Source.Format)
		}
		if cfg.HTTP[0].DefaultPingResponse != 200 {
			t.Errorf("default-ping-response = %d", cfg.HTTP[0].DefaultPingResponse)
		}
		w := strings.Join(cfg.Warnings(), "\n")
		for _, k := range []string{"http[0].rate-limit", "http[0].burst-limit", "http[0].health-timeout-ms",
			"http[0].output[0].admin", "http[0].output[0].type"} {
			if !strings.Contains(w, k+": ") {
				t.Errorf("warnings do not mention %s:\n%s", k, w)
			}
		}
	})
	t.Run("prometheus outputs are refused", func(t *testing.T) {
		probs := loadProblems(t, "f.toml", "[[http]]\nbind-addr = \":1\"\noutput = [{ location = \"http://h:1/api/v1/prom/write\", type = \"prometheus\" }]\n")
		wantMsg(t, problemFor(t, probs, "http[0].output[0].type"), `"prometheus" is not supported`)
	})
}

func TestFieldErrorRendering(t *testing.T) {
	tests := []struct {
		e    FieldError
		want string
	}{
		{FieldError{File: "a.toml", Line: 3, Key: "sync", Msg: "bad"}, "a.toml:3: sync: bad"},
		{FieldError{File: "a.toml", Key: "sync", Msg: "bad"}, "a.toml: sync: bad"},
		{FieldError{Key: "sync", Msg: "bad"}, "sync: bad"},
		{FieldError{Line: 2, Msg: "bad"}, "line 2: bad"},
		{FieldError{File: "a.toml", Line: 3, Key: "x.y", Msg: `unknown key "y" in [x]`, Unknown: true}, `a.toml:3: unknown key "y" in [x]`},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"sync", "log", "bind-addr", "mtu", "tokens", "bind_address"}
	tests := map[string]string{
		"snyc": "sync", "foo": "", "bind-adr": "bind-addr", "mut": "mtu", "token": "tokens",
		"BIND-ADDRESS": "bind_address", "zzzzzzzzzz": "", "x": "",
	}
	for key, want := range tests {
		if got := suggest(key, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
}
