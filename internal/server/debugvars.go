package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/influxgate/influxgate/internal/relay"
)

// processStart stands in for the process collector's start time where the
// platform does not report one.
var processStart = time.Now()

// statistic is one entry of /debug/vars in InfluxDB's shape: Telegraf's
// inputs.influxdb turns it into a metric named "influxdb_" + Name.
type statistic struct {
	Name   string            `json:"name"`
	Tags   map[string]string `json:"tags"`
	Values map[string]any    `json:"values"`
}

// debugVar is one top-level key of /debug/vars and its value.
type debugVar struct {
	key   string
	value any
}

// serveDebugVars answers GET /debug/vars the way InfluxDB 1.x does: one
// JSON object with "system", "cmdline", "memstats" and then one statistic
// (name, tags, values) per thing counted, so that Telegraf's
// inputs.influxdb, pointed at influxgate, monitors it as it monitors
// influxd. The statistics are influxgate's own: per listener its log, per
// backend its delivery, per endpoint the write and query counters. Like
// /metrics it shows counts only: no data, no backend URLs, no credentials,
// so, like /metrics, it is served without the gateway's credential check
// (influxd too serves it without authentication unless pprof-auth-enabled).
func (s *Server) serveDebugVars(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := encodeDebugVars(s.debugVars(time.Now()))
	if err != nil {
		http.Error(w, "encode /debug/vars: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// encodeDebugVars writes the entries in order, one per line as influxd
// does; encoding/json would sort the top-level keys of a map.
func encodeDebugVars(vars []debugVar) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, v := range vars {
		key, err := json.Marshal(v.key)
		if err != nil {
			return nil, err
		}
		val, err := json.Marshal(v.value)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteString(",\n")
		}
		b.Write(key)
		b.WriteString(": ")
		b.Write(val)
	}
	b.WriteString("\n}\n")
	return b.Bytes(), nil
}

// debugVars collects every entry: the process first, then each relay
// (HTTP listeners and UDP listeners with HTTP outputs), then the request
// counters of /metrics summed per endpoint.
func (s *Server) debugVars(now time.Time) []debugVar {
	families, _ := s.reg.Gather() // a partial answer is still worth showing
	started := processStart
	if v, ok := gaugeValue(families, "process_start_time_seconds"); ok && v > 0 {
		started = time.Unix(0, int64(v*float64(time.Second)))
	}
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	vars := []debugVar{
		{"system", map[string]any{
			"currentTime": now.UTC().Format(time.RFC3339Nano),
			"started":     started.UTC().Format(time.RFC3339Nano),
			"uptime":      int64(now.Sub(started).Seconds()),
		}},
		{"cmdline", os.Args},
		{"memstats", &mem},
		{"build", map[string]string{"Version": s.opts.Version, "Branch": "", "Commit": "", "Build Time": ""}},
		{"runtime", runtimeStatistic(&mem)},
	}
	process := statistic{Name: "influxgate", Tags: map[string]string{}, Values: map[string]any{
		"connectionsRefused": counterSum(families, "influxgate_http_connections_refused_total", nil),
	}}
	if v, ok := gaugeValue(families, "influxgate_data_dir_free_bytes"); ok {
		process.Values["dataDirFreeBytes"] = int64(v)
	}
	if v, ok := gaugeValue(families, "influxgate_data_dir_capacity_bytes"); ok {
		process.Values["dataDirCapacityBytes"] = int64(v)
	}
	vars = append(vars, debugVar{"influxgate", process})

	for _, src := range s.statusSources() {
		st := src.Stats()
		vars = append(vars, debugVar{"influxgate_listener:" + st.Name, listenerStatistic(st, src.Ready() == nil)})
		for _, b := range st.Backends {
			vars = append(vars, debugVar{"influxgate_backend:" + st.Name + ":" + b.Name, backendStatistic(st.Name, b)})
		}
	}
	for _, u := range s.udpHealth() {
		dropped := uint64(0)
		for _, n := range u.Dropped {
			dropped += n
		}
		vars = append(vars, debugVar{"influxgate_udp:" + u.Name, statistic{Name: "influxgate_udp",
			Tags: map[string]string{"listener": u.Name, "bind": u.Addr},
			Values: map[string]any{"packets": u.Packets, "lines": u.Lines, "loggedLines": u.Logged,
				"droppedLines": dropped}}})
	}
	for _, endpoint := range []string{"v1", "v2"} {
		vars = append(vars, debugVar{"influxgate_write:" + endpoint, writeStatistic(families, endpoint)})
	}
	for _, endpoint := range []string{"query", "flux"} {
		vars = append(vars, debugVar{"influxgate_query:" + endpoint, queryStatistic(families, endpoint)})
	}
	return vars
}

// runtimeStatistic has the values of influxd's own "runtime" statistic.
func runtimeStatistic(m *runtime.MemStats) statistic {
	return statistic{Name: "runtime", Tags: map[string]string{}, Values: map[string]any{
		"Alloc": m.Alloc, "Frees": m.Frees, "HeapAlloc": m.HeapAlloc, "HeapIdle": m.HeapIdle,
		"HeapInUse": m.HeapInuse, "HeapObjects": m.HeapObjects, "HeapReleased": m.HeapReleased,
		"HeapSys": m.HeapSys, "Lookups": m.Lookups, "Mallocs": m.Mallocs, "NumGC": m.NumGC,
		"NumGoroutine": runtime.NumGoroutine(), "PauseTotalNs": m.PauseTotalNs, "Sys": m.Sys,
		"TotalAlloc": m.TotalAlloc,
	}}
}

// listenerStatistic is one relay's write log.
func listenerStatistic(st relay.Stats, ready bool) statistic {
	l := st.Log
	return statistic{Name: "influxgate_listener", Tags: map[string]string{"listener": st.Name}, Values: map[string]any{
		"ready": boolInt(ready), "backends": len(st.Backends),
		"logFirstIndex": st.FirstIndex, "logLastIndex": st.LastIndex, "logDiskBytes": st.LogBytes,
		"logSegments": st.Segments, "appends": l.Appends, "appendBytes": l.AppendBytes,
		"appendErrors": l.AppendErrors, "groupWrites": l.Writes, "fsyncs": l.Fsyncs,
		"fsyncErrors": l.FsyncErrors, "fsyncDurationNs": l.FsyncTime.Nanoseconds(),
		"fsyncMaxNs": l.FsyncMax.Nanoseconds(), "cacheRecords": l.CacheRecords, "cacheBytes": l.CacheBytes,
		"cacheHits": l.CacheHits, "diskReads": l.DiskReads, "corruptRecords": l.CorruptRecords,
	}}
}

// backendStatistic is one backend's delivery. The state is a string
// value; up is 0 only while the backend is down, for alerting on a number.
func backendStatistic(listener string, b relay.BackendStats) statistic {
	return statistic{Name: "influxgate_backend", Tags: map[string]string{"listener": listener, "backend": b.Name}, Values: map[string]any{
		"state": b.State.String(), "up": boolInt(b.State != relay.StateDown),
		"deliveredPoints": b.Delivered, "requests": b.Requests, "retries": b.Retries,
		"rejectedPoints": sumCounts(b.Rejected), "droppedPoints": sumCounts(b.Dropped),
		"deadLetterRecords": b.DeadLetters, "backlogRecords": b.Backlog.Records,
		"backlogBytes": b.Backlog.Bytes, "backlogOldestAgeNs": b.Backlog.OldestAge.Nanoseconds(),
		"bufferSizeBytes": b.BufferSizeBytes, "diverged": boolInt(!b.DivergedSince.IsZero()),
	}}
}

// writeStatistic sums influxgate_http_write_{requests,points}_total of one
// endpoint (v1 = /write, v2 = /api/v2/write) by status class, in the
// spirit of influxd's httpd statistic.
func writeStatistic(families []*dto.MetricFamily, endpoint string) statistic {
	is := func(class string) func(map[string]string) bool {
		return func(l map[string]string) bool {
			return l["endpoint"] == endpoint && (class == "" || strings.HasPrefix(l["status"], class))
		}
	}
	const reqs, pts = "influxgate_http_write_requests_total", "influxgate_http_write_points_total"
	okPoints, allPoints := counterSum(families, pts, is("2")), counterSum(families, pts, is(""))
	return statistic{Name: "influxgate_write", Tags: map[string]string{"endpoint": endpoint}, Values: map[string]any{
		"req": counterSum(families, reqs, is("")), "reqOK": counterSum(families, reqs, is("2")),
		"reqClientError": counterSum(families, reqs, is("4")), "reqServerError": counterSum(families, reqs, is("5")),
		"pointReq": allPoints, "pointsWrittenOK": okPoints, "pointsWrittenFail": allPoints - okPoints,
	}}
}

// queryStatistic sums influxgate_query_requests_total of one endpoint
// (query = /query, flux = /api/v2/query) by class and status class.
func queryStatistic(families []*dto.MetricFamily, endpoint string) statistic {
	const name = "influxgate_query_requests_total"
	match := func(key, prefix string) func(map[string]string) bool {
		return func(l map[string]string) bool {
			return l["endpoint"] == endpoint && (key == "" || strings.HasPrefix(l[key], prefix))
		}
	}
	return statistic{Name: "influxgate_query", Tags: map[string]string{"endpoint": endpoint}, Values: map[string]any{
		"req":            counterSum(families, name, match("", "")),
		"reqRead":        counterSum(families, name, match("class", "read")),
		"reqChange":      counterSum(families, name, match("class", "change")),
		"reqClientError": counterSum(families, name, match("status", "4")),
		"reqServerError": counterSum(families, name, match("status", "5")),
	}}
}

// counterSum adds up the counters of family name whose labels match
// (every one when match is nil).
func counterSum(families []*dto.MetricFamily, name string, match func(map[string]string) bool) uint64 {
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if match != nil && !match(labels(m)) {
				continue
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return uint64(sum)
}

// gaugeValue returns the value of the unlabelled gauge name.
func gaugeValue(families []*dto.MetricFamily, name string) (float64, bool) {
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) > 0 {
			return f.GetMetric()[0].GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func labels(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func sumCounts(by map[string]uint64) uint64 {
	var n uint64
	for _, v := range by {
		n += v
	}
	return n
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
