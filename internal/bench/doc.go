// Package bench measures influxgate (or another relay) end to end: it starts
// counting sink backends, starts the relay as a subprocess in front of them,
// drives it with a closed-loop load generator and reports throughput,
// latency, the relay's CPU time per line and its peak memory, next to the
// ceiling of the same load sent straight into one sink.
//
// # Pieces
//
//   - Sink (sink.go): an InfluxDB-like write endpoint that reads each body,
//     counts its lines and answers 204 with InfluxDB's headers. It can be
//     slow (a delay per request), flaky (a share of writes answered 503) or
//     down (its port closed), and can come back later on the same port.
//   - Bodies (lines.go): pre-generated request bodies of Telegraf-like cpu
//     and mem lines (~115 bytes each) with distinct series and nanosecond
//     timestamps, optionally gzip-compressed, optionally re-stamped before
//     every request so that no two points anywhere in a run collide (needed
//     when a real influxd counts what it stored).
//   - Load (load.go): N keep-alive connections, each sending its next
//     request as soon as the previous one is answered. Every latency is
//     kept, so percentiles are exact.
//   - Process (process.go, proc.go): subprocesses (influxgate, another
//     relay, influxd, the ceiling sink) optionally pinned with taskset, and
//     their CPU time and memory read from /proc.
//   - Scenarios (scenario.go, influxd.go) and the report (report.go).
//
// # Why the HTTP client is hand-written
//
// The load generator shares one core with the sinks when the relay is
// pinned to the other, so every microsecond it spends per request lowers the
// ceiling it can show. net/http's client costs a few microseconds and
// several allocations per request for connection pooling, header maps and
// goroutine hand-offs that a fixed set of keep-alive connections does not
// need. Each connection therefore writes a pre-formatted HTTP/1.1 request
// with one writev and parses the answer with net/http's own ReadResponse.
// Percentiles are computed from the stored samples rather than with an HDR
// histogram library: a run holds at most a few million samples, which sort
// in well under a second, and exact values need no error bound.
//
// The package reads /proc and uses Linux's parent-death signal, so the tool
// runs on Linux only.
package bench
