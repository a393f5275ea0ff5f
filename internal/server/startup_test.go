package server

import (
	"net"
	"testing"

	"github.com/influxgate/influxgate/internal/config"
)

// A start-up problem found after the data directory is locked (here: the
// listener's port is taken) is returned as an error, the lock is released,
// and nothing panics.
func TestNewReturnsStartupErrorsAndUnlocks(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP = []config.HTTPConfig{{Name: "http", BindAddr: taken.Addr().String(),
		Outputs: []config.OutputConfig{{Name: "a", Location: "http://127.0.0.1:1/write"}}}}
	cfg.ApplyDefaults()
	if _, err := New(&cfg, Options{}); err == nil {
		t.Fatal("New succeeded on a port in use")
	}
	// The data directory is free again: a second attempt gets the same
	// error, not "locked by another influxgate".
	cfg.HTTP[0].BindAddr = "127.0.0.1:0"
	s, err := New(&cfg, Options{})
	if err != nil {
		t.Fatalf("New after a failed start: %v", err)
	}
	s.closeAll(t.Context())
}
