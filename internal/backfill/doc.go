// Package backfill recomputes continuous queries on a backend that
// received points late, so that its continuous-query results equal those
// of the replicas that were up (G6).
//
// InfluxDB runs a continuous query only for the interval that just ended
// (and RESAMPLE FOR windows), and keeps no memory of runs it missed: a
// server that was down never computes the intervals of its outage, and a
// server that replays a backlog computes some intervals on half of their
// data. influxgate knows which points a backend received late (the records
// its delivery worker replayed) and so their time range per database and
// retention policy (Pending). When the backend is caught up, a backfill
// record addressed to it goes through the log (so that it survives a crash
// and keeps its place among the writes), and its worker runs each
// continuous query of those databases again on that backend only, with
// the query's own SELECT ... INTO restricted to the whole GROUP BY time()
// intervals the late points touch (Runner). docs/delivery.md has the rules
// and the edge cases.
package backfill
