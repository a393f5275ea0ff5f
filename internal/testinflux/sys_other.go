//go:build !linux

package testinflux

import (
	"os/exec"
	"time"
)

// setPdeathsig does nothing where the kernel has no parent-death signal;
// there only t.Cleanup stops the servers.
func setPdeathsig(*exec.Cmd) {}

// waitStopped cannot observe thread states without /proc; it gives the
// signal a moment to take effect.
func waitStopped(int, bool) error {
	time.Sleep(50 * time.Millisecond)
	return nil
}
