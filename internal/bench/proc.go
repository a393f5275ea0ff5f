package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat. The kernel fixes
// USER_HZ at 100 on every architecture Go supports on Linux (sysconf
// _SC_CLK_TCK), whatever CONFIG_HZ is.
const userHZ = 100

// CPUTime returns the user plus system CPU time pid has used so far, from
// /proc/PID/stat. It has a resolution of 10 ms.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line. The command name (field 2) is in parentheses and may
// itself contain spaces and parentheses, so fields are counted from the last
// ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat line %q", b)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("stat line has %d fields after the command name, want at least 13", len(f))
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad utime/stime %q %q", f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// Memory is a process's resident memory, from /proc/PID/status.
type Memory struct {
	RSS int64 // VmRSS, bytes
	HWM int64 // VmHWM (peak RSS), bytes
}

// ReadMemory returns pid's current and peak resident set size.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	return parseStatusMemory(b)
}

func parseStatusMemory(b []byte) (Memory, error) {
	var m Memory
	var found int
	for line := range bytes.Lines(b) {
		var dst *int64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst = &m.RSS
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst = &m.HWM
		default:
			continue
		}
		f := bytes.Fields(line)
		if len(f) != 3 || string(f[2]) != "kB" {
			return Memory{}, fmt.Errorf("unexpected status line %q", line)
		}
		kb, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("unexpected status line %q", line)
		}
		*dst = kb << 10
		found++
	}
	if found != 2 {
		return Memory{}, fmt.Errorf("VmRSS or VmHWM missing from status")
	}
	return m, nil
}

// RSSPoint is one sample of a process's resident memory.
type RSSPoint struct {
	At  time.Duration `json:"at_ns"` // since sampling started
	RSS int64         `json:"rss_bytes"`
}

// RSSSampler records a process's RSS at a fixed interval, to show whether
// memory stays flat over a run.
type RSSSampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	pts  []RSSPoint
}

// SampleRSS starts sampling pid's RSS every interval until Stop.
func SampleRSS(pid int, interval time.Duration) *RSSSampler {
	s := &RSSSampler{stop: make(chan struct{}), done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if m, err := ReadMemory(pid); err == nil {
				s.mu.Lock()
				s.pts = append(s.pts, RSSPoint{At: time.Since(start), RSS: m.RSS})
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the samples taken.
func (s *RSSSampler) Stop() []RSSPoint {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pts
}

// CoreTimes is one CPU's line of /proc/stat, in USER_HZ ticks: where the
// core's time went, whichever process ran on it. With the relay pinned to
// one core, it tells a core that idles (nothing runnable) from one that
// waits on the disk (iowait: idle while a task that last ran there waits
// for I/O) and from work the kernel does there on the relay's behalf
// outside its process (softirq, kworkers), which the relay's own CPU time
// does not show.
type CoreTimes struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal int64
}

// total is every tick the line accounts for (guest time is inside user).
func (c CoreTimes) total() int64 {
	return c.User + c.Nice + c.System + c.Idle + c.IOWait + c.IRQ + c.SoftIRQ + c.Steal
}

// ReadCoreTimes returns cpu's line of /proc/stat.
func ReadCoreTimes(cpu int) (CoreTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CoreTimes{}, err
	}
	return parseCoreTimes(b, cpu)
}

func parseCoreTimes(b []byte, cpu int) (CoreTimes, error) {
	prefix := []byte("cpu" + strconv.Itoa(cpu) + " ")
	for line := range bytes.Lines(b) {
		if !bytes.HasPrefix(line, prefix) {
			continue
		}
		f := bytes.Fields(line[len(prefix):])
		if len(f) < 8 {
			return CoreTimes{}, fmt.Errorf("/proc/stat line %q has %d fields, want at least 8", bytes.TrimSpace(line), len(f))
		}
		var v [8]int64
		for i := range v {
			n, err := strconv.ParseInt(string(f[i]), 10, 64)
			if err != nil {
				return CoreTimes{}, fmt.Errorf("/proc/stat line %q: field %d: %v", bytes.TrimSpace(line), i+1, err)
			}
			v[i] = n
		}
		return CoreTimes{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]}, nil
	}
	return CoreTimes{}, fmt.Errorf("/proc/stat has no line for cpu%d", cpu)
}

// coreShares returns the idle and iowait shares of the ticks between a
// and b (0 to 1), and false when no tick passed.
func coreShares(a, b CoreTimes) (idle, iowait float64, ok bool) {
	t := b.total() - a.total()
	if t <= 0 {
		return 0, 0, false
	}
	return float64(b.Idle-a.Idle) / float64(t), float64(b.IOWait-a.IOWait) / float64(t), true
}
