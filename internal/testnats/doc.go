// Package testnats starts real NATS servers with JetStream for tests: one
// server, or a cluster of three on free loopback ports, each in its own
// t.TempDir(), stopped when the test ends.
//
//	c := testnats.Start(t, testnats.Options{Servers: 3})
//	urls := c.URLs()          // give them to influxgate's [log-store]
//	c.Servers[1].Kill(t)      // kill -9 one server
//	c.Servers[1].Restart(t)   // back, same ports and store
//
// # Binary
//
// Binary finds nats-server: $NATS_SERVER, else the release built into the
// cache by `make nats-server` ($HOME/.cache/influxgate/nats-server-<v>/),
// else Debian's /usr/sbin/nats-server (2.9, which has JetStream clustering
// but no priority groups). A missing binary fails the test: a skipped NATS
// test would silently claim nothing.
//
// # Readiness
//
// A cluster is ready when every server answers its monitoring endpoint
// /healthz with 200 and a client can create a replicated stream (which
// needs the JetStream meta leader elected and every peer known). The
// probe stream is deleted again.
//
// Like package testinflux, servers run with Pdeathsig = SIGKILL from a
// locked OS thread so that none outlives the test binary.
package testnats
