package bench

import (
	"fmt"
	"strings"
	"time"
)

// Scenario is one benchmark situation. Every scenario but influxd and
// shards runs the relay in front of two sinks.
type Scenario struct {
	Name  string `json:"name"`
	About string `json:"about"`
	Lines int    `json:"lines_per_request"`
	Conns int    `json:"conns"`
	Gzip  bool   `json:"gzip,omitempty"`
	// Sync is influxgate's sync policy; "" keeps its default (always).
	Sync string `json:"sync,omitempty"`
	// Slow delays every write the second sink answers.
	Slow time.Duration `json:"slow_ns,omitempty"`
	// Down keeps the second sink's port closed for the whole load.
	Down bool `json:"down,omitempty"`
	// Recovery brings the down sink back after the load and measures how
	// fast the relay drains its backlog into it.
	Recovery bool `json:"recovery,omitempty"`
	// Shards, if set, runs the relay with a sharded listener of this many
	// shards (shard-key = "measurement"), each a replica set of two sinks;
	// relays without sharding are n/a.
	Shards int `json:"shards,omitempty"`
	// Measurements, if set, spreads the lines over this many measurements
	// (half cpu, half mem) instead of two, so that sharding by measurement
	// has keys to spread.
	Measurements int `json:"measurements,omitempty"`
	// Influxd runs against real influxd instead of sinks.
	Influxd bool `json:"influxd,omitempty"`
	// Duration, if set, replaces the runner's window.
	Duration time.Duration `json:"duration_ns,omitempty"`
	// Long scenarios run only when named, or with "all" plus -long.
	Long bool `json:"long,omitempty"`
	// NATS puts influxgate's log in NATS JetStream on this many servers on
	// loopback (0: the local log); NATSSync makes them fsync before every
	// acknowledgement (sync_interval: always).
	NATS     int  `json:"nats_servers,omitempty"`
	NATSSync bool `json:"nats_sync_always,omitempty"`
}

// Request shapes from the issue: large batches as Telegraf sends them from
// a big host or an aggregator, small ones as many small clients do, and
// single points as scripts, IoT devices and client libraries without
// batching send them. Single-line requests use twice small's connections:
// when every request carries one point, a relay's throughput is its
// request rate, and only concurrent requests can share a group commit (or,
// for the peers, a backend batch); 64 is many clients while the closed
// loop still fits the harness's one core (its CPU column says when not).
const (
	largeLines, largeConns   = 5000, 8
	smallLines, smallConns   = 10, 32
	singleLines, singleConns = 1, 64
)

// The shards scenario: two replica sets, keyed by measurement, over 100
// measurements (50 cpu, 50 mem), so each shard gets about half the lines of
// every request and the split is exercised on every request.
const (
	shardCount, shardMeasurements = 2, 100
)

// Scenarios lists every scenario, in the order "all" runs them.
var Scenarios = []Scenario{
	{Name: "large", About: "5000-line batches, 8 connections, sync=always", Lines: largeLines, Conns: largeConns},
	{Name: "small", About: "10-line batches, 32 connections, sync=always", Lines: smallLines, Conns: smallConns},
	{Name: "single-line", About: "1-line requests, 64 connections, sync=always", Lines: singleLines, Conns: singleConns},
	{Name: "gzip", About: "large, gzip-compressed bodies", Lines: largeLines, Conns: largeConns, Gzip: true},
	// The sync policies are compared on small batches, where a fsync is
	// shared by the fewest lines and its cost shows most.
	{Name: "sync-always", About: "small, sync=always (fsync before each answer)", Lines: smallLines, Conns: smallConns, Sync: "always"},
	{Name: "sync-batch", About: "small, sync=batch (fsync every sync-interval)", Lines: smallLines, Conns: smallConns, Sync: "batch"},
	{Name: "sync-none", About: "small, sync=none (fsync left to the OS)", Lines: smallLines, Conns: smallConns, Sync: "none"},
	{Name: "backend-down", About: "large, second sink down for the whole run (backlog on disk)", Lines: largeLines, Conns: largeConns, Down: true},
	{Name: "recovery", About: "large with the second sink down, then back: drain rate", Lines: largeLines, Conns: largeConns, Down: true, Recovery: true},
	{Name: "slow-backend", About: "small, second sink answers after 200 ms", Lines: smallLines, Conns: smallConns, Slow: 200 * time.Millisecond},
	{Name: "shards", About: "large over 100 measurements, two shards of two sinks (shard-key = measurement)", Lines: largeLines, Conns: largeConns, Shards: shardCount, Measurements: shardMeasurements},
	// The log in NATS JetStream (docs/performance.md, "The log in NATS"):
	// small batches, where an append's latency shows most, on one server
	// and on a cluster of three (R3, a quorum per append).
	{Name: "nats-1", About: "small, log in NATS JetStream, one server, sync_interval always", Lines: smallLines, Conns: smallConns, NATS: 1, NATSSync: true},
	{Name: "nats-3", About: "small, log in NATS JetStream, three servers (R3)", Lines: smallLines, Conns: smallConns, NATS: 3},
	{Name: "nats-3-sync", About: "small, log in NATS JetStream, three servers (R3), sync_interval always", Lines: smallLines, Conns: smallConns, NATS: 3, NATSSync: true},
	{Name: "nats-3-large", About: "large, log in NATS JetStream, three servers (R3)", Lines: largeLines, Conns: largeConns, NATS: 3},
	{Name: "influxd", About: "large into two real influxd vs. direct into one", Lines: largeLines, Conns: largeConns, Influxd: true},
	{Name: "backend-down-5m", About: "backend-down for 5 minutes", Lines: largeLines, Conns: largeConns, Down: true, Duration: 5 * time.Minute, Long: true},
}

// FindScenarios resolves a comma-separated list of names, where "all"
// means every scenario that is not Long (and the long ones too with long).
func FindScenarios(spec string, long bool) ([]Scenario, error) {
	var out []Scenario
	seen := map[string]bool{}
	add := func(s Scenario) {
		if !seen[s.Name] {
			seen[s.Name] = true
			out = append(out, s)
		}
	}
	for name := range strings.SplitSeq(spec, ",") {
		name = strings.TrimSpace(name)
		if name == "all" {
			for _, s := range Scenarios {
				if !s.Long || long {
					add(s)
				}
			}
			continue
		}
		found := false
		for _, s := range Scenarios {
			if s.Name == name {
				add(s)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", name, scenarioNames())
		}
	}
	return out, nil
}

func scenarioNames() string {
	names := make([]string, 0, len(Scenarios)+1)
	for _, s := range Scenarios {
		names = append(names, s.Name)
	}
	return strings.Join(append(names, "all"), ", ")
}
