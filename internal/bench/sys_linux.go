package bench

import (
	"os/exec"
	"syscall"
)

// setPdeathsig makes the kernel kill the child when the harness dies, even
// by SIGKILL, so no relay or influxd outlives a run.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
