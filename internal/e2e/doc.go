// Package e2e holds influxgate's end-to-end tests: influxgate (in process,
// or as a subprocess where a test kills it) in front of real influxd
// servers started by internal/testinflux. Fakes appear only where a test
// injects a fault a real server cannot produce on demand, and are named so.
package e2e
