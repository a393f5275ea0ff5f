// Package testinflux starts real influxd servers for tests.
//
// Every influxgate test that claims InfluxDB behaviour runs against real
// influxd processes: Debian's 1.6.7 (V167) and upstream 1.8.10 (V1810, the
// first with the /api/v2 compatibility endpoints). Start gives each test a
// fresh server in its own t.TempDir() on loopback ports nobody else uses, and
// stops it when the test ends, even if the test failed or panicked:
//
//	s := testinflux.Start(t, testinflux.Options{Version: testinflux.V1810})
//	s.CreateDatabase(t, "db")
//	s.Write(t, "db", "s", "cpu,host=a value=1 1700000000")
//	got := s.Points(t, "db") // ["cpu,host=a value=1 1700000000000000000"]
//
// # Binaries
//
// Binary finds influxd for a version: $INFLUXD_1_6 or /usr/bin/influxd for
// 1.6.7 (apt-get install influxdb), $INFLUXD_1_8 or
// $HOME/.cache/influxgate/influxd-1.8.10/influxd for 1.8.10 (make influxd-1.8).
// A missing binary fails the test; it is never a skip, because a skipped
// InfluxDB test would silently claim nothing.
//
// # Start-up
//
// Each instance gets a generated config (see Options.ExtraConfig for
// additions) with its own RPC, HTTP and optional UDP port, data, meta and WAL
// directories, request logging off and the _internal monitor store off.
// influxd's own log (stdout and stderr) goes to influxd.log in the instance
// directory; when start-up fails, Start prints its tail. Environment
// variables named INFLUXDB_* are removed from influxd's environment because
// influxd lets them override the config file.
//
// A server is ready when its log says "Listening for signals" (every service
// opened, so every port is really its own) and GET /ping answers 204. Checking
// the log first matters: when a port was taken by someone else's influxd, that
// server would answer our /ping while ours is still failing to bind.
//
// Ports come from FreePort and FreeUDPPort, which pick ports below the
// kernel's ephemeral range (see ports.go) and never hand out the same port
// twice in one test binary. A port can still be taken by another process
// between the check and influxd's bind; Start then sees "address already in
// use" in the log and retries with new ports (up to three attempts). Restart
// keeps the ports, so it cannot retry; it fails the test instead.
//
// # Process lifetime
//
// influxd runs with Pdeathsig = SIGKILL, so it dies with the test binary even
// when that is killed (e.g. by go test's -timeout). The signal is tied to the
// OS thread that forked the child, so that thread is locked for the child's
// whole life (see startProc). t.Cleanup kills the server with SIGKILL; the
// data is thrown away with the temp dir anyway.
//
// # Faults
//
// Stop (SIGTERM), Kill (SIGKILL, a crash: the WAL is replayed on Restart),
// Pause and Resume (SIGSTOP/SIGCONT: a hung backend that accepts connections
// and never answers) and Wipe (lose every database and user) let tests put
// a backend through what influxgate must survive. Restart brings it back on
// the same address.
//
// # Query helpers
//
// Query, Exec, Write, Points, Count and WaitCount talk to the server directly
// (never through influxgate) and fail the test on errors. With Options.Auth,
// Start creates an admin user (AdminUser, AdminPassword) and the helpers use
// it, unless Options.NoAdmin asks for a server without users.
//
// TOML merging of ExtraConfig uses github.com/pelletier/go-toml/v2, the same
// library as influxgate's config loader.
package testinflux
