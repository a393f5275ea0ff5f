package config

import (
	"strings"
	"testing"
)

const shardedTOML = `
[[http]]
name = "main"
bind-addr = "127.0.0.1:9096"
shard-key = "tag:customer_id"

  [[http.shard]]
  name = "s1"
  output = [ { name = "a1", location = "http://db-a1:8086/write" },
             { name = "b1", location = "http://db-b1:8086/write" } ]

  [[http.shard]]
  name = "s2"
  retire = true
  output = [ { name = "a2", location = "http://db-a2:8086" },
             { name = "b2", location = "http://db-b2:8086/write" } ]
`

func TestShardedListenerLoads(t *testing.T) {
	cfg := mustLoad(t, "sharded.toml", shardedTOML)
	h := cfg.HTTP[0]
	if !h.Sharded() || h.ShardKey != "tag:customer_id" || h.ShardTag() != "customer_id" {
		t.Fatalf("listener %+v is not sharded by tag customer_id", h)
	}
	if len(h.Shards) != 2 || h.Shards[0].Name != "s1" || h.Shards[1].Retire != true || h.Shards[0].Retire {
		t.Fatalf("shards %+v", h.Shards)
	}
	if got := h.Shards[1].Outputs[0].Location.String(); got != "http://db-a2:8086/write" {
		t.Errorf("shard outputs get the defaults too: location %q", got)
	}
	if len(h.AllOutputs()) != 4 || h.Shards[0].Outputs[1].MaxBatchKB != DefaultMaxBatchKB {
		t.Errorf("AllOutputs = %v", h.AllOutputs())
	}
	if got := cfg.ShardDir("main", "s1"); !strings.HasSuffix(got, "/main/shards/s1") {
		t.Errorf("ShardDir = %s", got)
	}
}

// Every mistake in a sharded listener is named with its key and line.
func TestShardedListenerMistakes(t *testing.T) {
	cases := []struct {
		name, toml, key, msg string
		line                 int
	}{
		{"bad shard-key", `[[http]]
bind-addr = "127.0.0.1:1"
shard-key = "customer_id"
  [[http.shard]]
  name = "s1"
  output = [ { name = "a", location = "http://h:1" } ]
`, "http[0].shard-key", `want "measurement" or "tag:NAME"`, 3},
		{"shards without shard-key", `[[http]]
bind-addr = "127.0.0.1:1"
  [[http.shard]]
  name = "s1"
  output = [ { name = "a", location = "http://h:1" } ]
`, "http[0].shard[0]", "need shard-key", 3},
		{"shard-key without shards", `[[http]]
bind-addr = "127.0.0.1:1"
shard-key = "measurement"
`, "http[0].shard-key", "no [[http.shard]] sections", 3},
		{"outputs and shards", `[[http]]
bind-addr = "127.0.0.1:1"
shard-key = "measurement"
output = [ { name = "x", location = "http://h:1" } ]
  [[http.shard]]
  name = "s1"
  output = [ { name = "a", location = "http://h:1" } ]
`, "http[0].output", "either output or [[http.shard]]", 4},
		{"duplicate shard name", `[[http]]
bind-addr = "127.0.0.1:1"
shard-key = "measurement"
  [[http.shard]]
  name = "s1"
  output = [ { name = "a", location = "http://h:1" } ]
  [[http.shard]]
  name = "s1"
  output = [ { name = "b", location = "http://h:2" } ]
`, "http[0].shard[1].name", "also used by shard[0]", 8},
		{"output name used by two shards", `[[http]]
bind-addr = "127.0.0.1:1"
shard-key = "measurement"
  [[http.shard]]
  name = "s1"
  output = [ { name = "a", location = "http://h:1" } ]
  [[http.shard]]
  name = "s2"
  output = [ { name = "a", location = "http://h:2" } ]
`, "http[0].shard[1].output[0].name", "unique across a listener's shards", 9},
		{"every shard retired", `[[http]]
bind-addr = "127.0.0.1:1"
shard-key = "measurement"
  [[http.shard]]
  name = "s1"
  retire = true
  output = [ { name = "a", location = "http://h:1" } ]
`, "http[0].shard[0].retire", "at least one shard must own keys", 6},
		{"bad output in a shard", `[[http]]
bind-addr = "127.0.0.1:1"
shard-key = "measurement"
  [[http.shard]]
  name = "s1"
  output = [ { name = "a", location = "h:1" } ]
`, "http[0].shard[0].output[0].location", "want an http:// or https:// URL", 6},
		{"unknown key in a shard", `[[http]]
bind-addr = "127.0.0.1:1"
shard-key = "measurement"
  [[http.shard]]
  name = "s1"
  weight = 2
  output = [ { name = "a", location = "http://h:1" } ]
`, "http[0].shard[0].weight", `unknown key "weight" in [[http.shard]]`, 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := problemFor(t, loadProblems(t, c.name+".toml", c.toml), c.key)
			if !strings.Contains(p.Msg, c.msg) || p.Line != c.line {
				t.Errorf("%s: line %d %q; want line %d and %q", c.key, p.Line, p.Msg, c.line, c.msg)
			}
		})
	}
}
