package config

import (
	"testing"
	"time"
)

// shutdown-delay: 5s when absent (also for influxdb-relay files, which
// do not know the key), 0 allowed (no lame-duck phase), a negative or
// unparsable value reported with its key and line.
func TestShutdownDelay(t *testing.T) {
	relay := "[[http]]\nname = \"a\"\nbind-addr = \":9096\"\noutput = [{ name = \"x\", location = \"http://127.0.0.1:8086/write\" }]\n"
	cfg := mustLoad(t, "relay.toml", relay)
	if cfg.Source.Format != FormatRelay || cfg.ShutdownDelay != 5*time.Second {
		t.Errorf("influxdb-relay file: format %s, shutdown-delay %v; want influxdb-relay, 5s", cfg.Source.Format, cfg.ShutdownDelay)
	}
	for _, tc := range []struct {
		value string
		want  time.Duration
	}{{`"0s"`, 0}, {`"0"`, 0}, {`"15s"`, 15 * time.Second}, {`"250ms"`, 250 * time.Millisecond}} {
		cfg := mustLoad(t, "n.toml", "shutdown-delay = "+tc.value+"\n[[http]]\nbind-addr = \":1\"\n"+twoOutputs)
		if cfg.ShutdownDelay != tc.want {
			t.Errorf("shutdown-delay = %s: got %v, want %v", tc.value, cfg.ShutdownDelay, tc.want)
		}
	}
	for _, tc := range []struct{ value, want string }{
		{`"-1s"`, `n.toml:2: shutdown-delay: must be 0 or more, got "-1s"`},
		{`"5"`, `n.toml:2: shutdown-delay: invalid duration "5"`},
		{`5`, `n.toml:2: shutdown-delay: invalid duration "5"`},
	} {
		probs := loadProblems(t, "n.toml", "data-dir = \"/d\"\nshutdown-delay = "+tc.value+"\n[[http]]\nbind-addr = \":1\"\n"+twoOutputs)
		wantMsg(t, probs[0], tc.want)
		if len(probs) != 1 {
			t.Errorf("shutdown-delay = %s: want one problem, got %v", tc.value, probs)
		}
	}
	c := Default()
	c.HTTP = []HTTPConfig{{Name: "a", BindAddr: ":1", Outputs: []OutputConfig{{Name: "x", Location: "http://h:1/write"}}}}
	c.ApplyDefaults()
	c.ShutdownDelay = -time.Second
	if fe := FieldErrors(c.Validate()); len(fe) != 1 || fe[0].Key != "shutdown-delay" {
		t.Errorf("Validate with shutdown-delay -1s: %v", fe)
	}
}
