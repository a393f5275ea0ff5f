package wal

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// datasync is fdatasync(2) on f, fullsync is fsync(2). Where the kernel
// allows it, the sync is submitted through Linux AIO (IOCB_CMD_FDSYNC and
// IOCB_CMD_FSYNC, Linux 4.18 and later) and its completion waited for
// through Go's network poller, on an eventfd.
//
// Why: a goroutine in a blocking system call keeps its P until the
// runtime's sysmon takes it away, which takes two of sysmon's ticks, and
// those back off from 20 µs to several ms while nothing needs taking. With
// influxgate on one core (GOMAXPROCS=1) every fdatasync of the log, 1-5 ms
// each under load, therefore stopped every other goroutine: an execution
// trace of the gzip benchmark had the log writer in fdatasync, with nothing
// else running, for 96% of its fdatasync time, while request handlers were
// ready to run (docs/performance.md, 2026-12-07 late night). Parked on the
// eventfd, the writer leaves the P to them. The kernel does the same
// vfs_fsync_range as fdatasync, in a worker thread; the durability is the
// same and so are the errors (an I/O error comes back as the event's
// result). The cursor file, atomically replaced files and directories are
// synced the same way (fullsync): rarer, but each held the P as long.
//
// If the kernel refuses AIO (io_setup fails: no AIO, a seccomp filter,
// fs.aio-max-nr used up), every sync is a plain one; if it refuses one
// submission (a file system without AIO fsync), that sync is.
func datasync(f *os.File) error { return syncFile(f, true) }

// fullsync is fsync(2) on f, through AIO where it can be (see datasync).
func fullsync(f *os.File) error { return syncFile(f, false) }

func syncFile(f *os.File, data bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) { serr = syncFD(fd, data) })
	if err != nil {
		return err
	}
	if serr != nil {
		op := "fsync"
		if data {
			op = "fdatasync"
		}
		return &os.PathError{Op: op, Path: f.Name(), Err: serr}
	}
	return nil
}

func syncFD(fd uintptr, data bool) error {
	if s := takeSyncer(); s != nil {
		submitted, err := s.sync(fd, data)
		if !submitted || err == nil || s.healthy {
			putSyncer(s)
		} else {
			s.close()
		}
		if submitted {
			return err
		}
	}
	for {
		var err error
		if data {
			err = syscall.Fdatasync(int(fd))
		} else {
			err = syscall.Fsync(int(fd))
		}
		if err != syscall.EINTR {
			return err
		}
	}
}

// aioSyncer is one AIO context and the eventfd its completions signal. It
// serves one sync at a time; concurrent syncs (several logs) take one
// each from the free list.
type aioSyncer struct {
	ctx uintptr  // aio_context_t
	efd *os.File // non-blocking eventfd, in the poller
	// healthy is false after a failure that may leave a completion
	// unreaped; such a syncer is closed instead of reused.
	healthy bool
}

var (
	syncersMu sync.Mutex
	syncers   []*aioSyncer
	// aioRefused is set when io_setup fails: no AIO from then on.
	aioRefused atomic.Bool
	// aioSyncs counts syncs completed through AIO (for tests).
	aioSyncs atomic.Uint64
	// ioSetup is io_setup(2); tests replace it to refuse AIO.
	ioSetup = func(ctx *uintptr) syscall.Errno {
		_, _, e := unix.Syscall(unix.SYS_IO_SETUP, 1, uintptr(unsafe.Pointer(ctx)), 0)
		return e
	}
	// ioSubmit is io_submit(2) of one iocb; tests replace it to hold a
	// sync in flight.
	ioSubmit = func(ctx uintptr, cb *iocb) syscall.Errno {
		_, _, e := unix.Syscall(unix.SYS_IO_SUBMIT, ctx, 1, uintptr(unsafe.Pointer(&cb)))
		return e
	}
)

func takeSyncer() *aioSyncer {
	syncersMu.Lock()
	if n := len(syncers); n > 0 {
		s := syncers[n-1]
		syncers = syncers[:n-1]
		syncersMu.Unlock()
		return s
	}
	syncersMu.Unlock()
	if aioRefused.Load() {
		return nil
	}
	var ctx uintptr
	if e := ioSetup(&ctx); e != 0 {
		aioRefused.Store(true)
		return nil
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_, _, _ = unix.Syscall(unix.SYS_IO_DESTROY, ctx, 0, 0)
		return nil
	}
	return &aioSyncer{ctx: ctx, efd: os.NewFile(uintptr(fd), "eventfd"), healthy: true}
}

func putSyncer(s *aioSyncer) {
	syncersMu.Lock()
	syncers = append(syncers, s)
	syncersMu.Unlock()
}

func (s *aioSyncer) close() {
	_, _, _ = unix.Syscall(unix.SYS_IO_DESTROY, s.ctx, 0, 0) // waits for what is in flight
	_ = s.efd.Close()
}

// iocb is struct iocb of linux/aio_abi.h (little-endian 64-bit layout).
type iocb struct {
	data      uint64
	key       uint32
	rwFlags   uint32
	opcode    uint16
	reqprio   int16
	fildes    uint32
	buf       uint64
	nbytes    uint64
	offset    int64
	reserved2 uint64
	flags     uint32
	resfd     uint32
}

// ioEvent is struct io_event.
type ioEvent struct {
	data, obj uint64
	res, res2 int64
}

const (
	iocbCmdFsync  = 2
	iocbCmdFdsync = 3
	iocbFlagResfd = 1 << 0
)

// sync submits an fdatasync (data) or fsync of fd and waits for it.
// submitted is false when the kernel refused the submission (nothing is in
// flight; the caller syncs the plain way).
func (s *aioSyncer) sync(fd uintptr, data bool) (submitted bool, err error) {
	op := uint16(iocbCmdFsync)
	if data {
		op = iocbCmdFdsync
	}
	// efd.Fd() leaves the descriptor non-blocking: os.NewFile was given
	// it non-blocking (TestSyncWaitsInThePoller checks).
	cb := &iocb{opcode: op, fildes: uint32(fd), flags: iocbFlagResfd, resfd: uint32(s.efd.Fd())}
	for {
		e := ioSubmit(s.ctx, cb)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return false, e
		}
		break
	}
	// The eventfd counts completions: reading it waits, parked in the
	// poller, for this one (one sync at a time per syncer).
	var n [8]byte
	if _, err := s.efd.Read(n[:]); err != nil {
		s.healthy = false
		return true, err
	}
	var ev ioEvent
	zero := unix.Timespec{}
	for {
		got, _, e := unix.Syscall6(unix.SYS_IO_GETEVENTS, s.ctx, 1, 1,
			uintptr(unsafe.Pointer(&ev)), uintptr(unsafe.Pointer(&zero)), 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 || got != 1 {
			s.healthy = false
			if e == 0 {
				return true, errors.New("aio: completion signalled but not found")
			}
			return true, e
		}
		break
	}
	if ev.res < 0 {
		return true, syscall.Errno(-ev.res)
	}
	aioSyncs.Add(1)
	return true, nil
}
