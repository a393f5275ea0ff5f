// Package udp is influxgate's [[udp]] listener: it receives line protocol
// over UDP, as InfluxDB's own UDP service and influxdb-relay's UDP relay
// do, and replicates it to the listener's outputs.
//
// One goroutine reads datagrams into a reused buffer. For each packet it
//
//  1. splits the packet into lines as InfluxDB 1.x does (lineproto.Lines),
//     drops the lines InfluxDB would reject (lineproto.ValidateLinePrecision,
//     in the listener's precision) and counts them as "malformed";
//  2. stamps every valid line that has no timestamp with the receipt time in
//     the listener's precision, once, so that every backend stores the same
//     point (lineproto.Stamp);
//  3. forwards the lines to each UDP output (location host:port) through a
//     lineproto.Packer: datagrams of at most the output's mtu bytes, split
//     only between lines; a line longer than the mtu goes alone in a
//     datagram when it fits in 65507 bytes and is dropped ("too_long")
//     otherwise;
//  4. when the listener has HTTP outputs (it then has a database), appends
//     the lines to a batch that a second goroutine writes to the listener's
//     relay every FlushInterval or FlushBytes, whichever comes first. The
//     relay's durable log and delivery workers then give UDP senders the
//     same replay after backend outages as HTTP clients.
//
// Dropping malformed lines matters for the UDP outputs: influxd's UDP
// service (1.x, services/udp) discards a whole datagram when any one of its
// lines fails to parse, so a single bad line forwarded as is would take the
// good lines packed with it down too.
//
// UDP outputs are fire and forget, as in influxdb-relay: a datagram the
// kernel refuses is counted as "send_error" and not retried. Only HTTP
// outputs go through the log.
//
// docs/udp.md is the operator's guide.
package udp
