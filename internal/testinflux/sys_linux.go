package testinflux

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// setPdeathsig makes the kernel kill influxd when the test binary dies, even
// by SIGKILL, so no server outlives its test (see startProc for the thread
// caveat).
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// waitStopped waits until every thread of pid is stopped (stopped true) or
// none is (stopped false). kill(2) only queues SIGSTOP and SIGCONT; a thread
// busy on another CPU can still answer a request after it returns.
func waitStopped(pid int, stopped bool) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		all, none, err := threadStates(pid)
		if err != nil {
			return err
		}
		if (stopped && all) || (!stopped && none) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d: threads not %s after 5s", pid, map[bool]string{true: "stopped", false: "running"}[stopped])
		}
		time.Sleep(time.Millisecond)
	}
}

// threadStates reports whether all or none of pid's threads are in state T
// (stopped by a signal).
func threadStates(pid int) (all, none bool, err error) {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		return false, false, fmt.Errorf("process %d: no threads in /proc (%v)", pid, err)
	}
	all, none = true, true
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread exited
		}
		// "tid (comm) S ...": the state follows the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 >= len(s) {
			return false, false, fmt.Errorf("unexpected %s: %q", f, s)
		}
		if s[i+2] == 'T' {
			none = false
		} else {
			all = false
		}
	}
	return all, none, nil
}
