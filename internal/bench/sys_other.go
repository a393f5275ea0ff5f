//go:build !linux

package bench

import "os/exec"

// setPdeathsig does nothing where there is no parent-death signal; the
// harness needs /proc and runs on Linux only (see the package doc).
func setPdeathsig(*exec.Cmd) {}
