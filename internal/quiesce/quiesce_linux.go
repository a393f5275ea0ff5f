package quiesce

import (
	"fmt"
	"net"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// dropSYN passes every segment except a connection request. A socket
// filter on TCP sees the segment from its TCP header on; byte 13 holds
// the flags.
var dropSYN = mustAssemble([]bpf.Instruction{
	bpf.LoadAbsolute{Off: 13, Size: 1},
	bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x12}, // SYN | ACK
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x02, SkipFalse: 1},
	bpf.RetConstant{Val: 0},          // SYN alone: drop
	bpf.RetConstant{Val: 0xffffffff}, // anything else: keep whole
})

func mustAssemble(prog []bpf.Instruction) []unix.SockFilter {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		panic(err)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out
}

// Quiesce makes ln drop new connection requests from now on; connections
// whose handshake has begun still complete and wait to be accepted.
// Connections accepted afterwards inherit the filter, which passes all
// their traffic.
func Quiesce(ln *net.TCPListener) error {
	prog := unix.SockFprog{Len: uint16(len(dropSYN)), Filter: &dropSYN[0]}
	return control(ln, func(fd int) error {
		return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog)
	})
}

// Backlog returns the number of connections waiting in ln's accept queue.
func Backlog(ln *net.TCPListener) (int, error) {
	n := 0
	err := control(ln, func(fd int) error {
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return err
		}
		n = int(info.Unacked) // on a listening socket: the accept queue
		return nil
	})
	return n, err
}

func control(ln *net.TCPListener, f func(fd int) error) error {
	rc, err := ln.SyscallConn()
	if err != nil {
		return fmt.Errorf("quiesce: %w", err)
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return fmt.Errorf("quiesce: %w", err)
	}
	if ferr != nil {
		return fmt.Errorf("quiesce: %w", ferr)
	}
	return nil
}
