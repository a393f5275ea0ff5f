package config

import "testing"

func TestDebugPprof(t *testing.T) {
	const listener = "[[http]]\nbind-addr = \"127.0.0.1:9096\"\noutput = [{ name = \"a\", location = \"http://127.0.0.1:8086/write\" }]\n"
	if cfg := mustLoad(t, "off.toml", listener); cfg.Debug.PProf {
		t.Error("pprof is on without [debug]")
	}
	if cfg := mustLoad(t, "on.toml", "[debug]\npprof = true\n"+listener); !cfg.Debug.PProf {
		t.Error("[debug] pprof = true did not enable pprof")
	}
	p := problemFor(t, loadProblems(t, "typo.toml", "[debug]\nprof = true\n"+listener), "debug.prof")
	if p.Line != 2 {
		t.Errorf("unknown key debug.prof reported at line %d, want 2: %v", p.Line, p)
	}
}
