package bench

import (
	"net"
	"os"
	"strings"
	"testing"
)

// A port taken between the pick and the server's bind (the load's
// connections use ephemeral ports too) makes startNATS start again on new
// ports instead of failing the run.
func TestStartNATSRetriesATakenPort(t *testing.T) {
	if _, err := NATSServerBinary(); err != nil {
		if os.Getenv("INFLUXGATE_REQUIRE_CLIENTS") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	picks := 0
	natsAddr = func() (string, error) {
		picks++
		if picks == 1 {
			return taken.Addr().String(), nil // the client port of the first try
		}
		return freeAddr()
	}
	defer func() { natsAddr = freeAddr }()

	c, store, err := startNATS(t.TempDir(), 1, false)
	if err != nil {
		t.Fatalf("startNATS: %v", err)
	}
	defer c.stop()
	if picks != 6 {
		t.Errorf("%d ports picked, want 6 (3 per try, 2 tries)", picks)
	}
	if !strings.Contains(store, `engine = "nats"`) || strings.Contains(store, taken.Addr().String()) {
		t.Errorf("log-store table %q", store)
	}
}
