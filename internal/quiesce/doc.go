// Package quiesce lets a TCP listener be closed without resetting a
// connection a client believes open.
//
// The kernel completes a client's handshake before the program accepts
// the connection: a client that has connected may already have sent its
// request while the connection waits in the listening socket's accept
// queue. Closing the socket resets every connection still in that queue,
// and the client sees its request fail with "connection reset by peer"
// after it was sent; a balancer will not retry such a POST elsewhere,
// because it cannot know whether the server acted on it. A node that
// stops behind a balancer without health checks (open-source nginx),
// which keeps opening connections until the node refuses them, always
// has a few in the queue.
//
// Quiesce makes the socket drop new connection requests (a SYN without
// ACK) while handshakes already under way complete, and Backlog says how
// many connections wait to be accepted, so that a server can accept the
// queue empty before it closes the socket. A client whose SYN was
// dropped retries it after a second, finds the port closed and sees the
// connection refused, which every balancer retries on another server.
//
// It is written here because no library does it: it is one socket
// filter (SO_ATTACH_FILTER, assembled with golang.org/x/net/bpf) and one
// getsockopt (TCP_INFO, whose unacked field is the accept queue's length
// on a listening socket). Both are Linux; elsewhere Quiesce does nothing
// and Backlog reports an empty queue, which is the behaviour of a plain
// close.
package quiesce
