#!/usr/bin/env bash
# make demo: two real influxd servers, influxgate in front of them, sample
# traffic written with the real influx CLI, both backends queried to show
# identical data — including after one of them was down. Ctrl-C tears
# everything down.
set -euo pipefail

BIN=${BIN:-bin/influxgate}
WORK=$(mktemp -d -t influxgate-demo.XXXXXX)
PIDS=()

cleanup() {
	echo
	echo "== stopping the demo"
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
	echo "removed $WORK"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_influxd NAME: a Debian influxd with its own dirs and ports.
start_influxd() {
	local name=$1 http=$2 dir="$WORK/$1"
	mkdir -p "$dir"
	influxd config 2>/dev/null | python3 -c '
import re, sys
dir, http, rpc = sys.argv[1], sys.argv[2], sys.argv[3]
s = sys.stdin.read()
s = re.sub(r"(?m)^bind-address = .*$", "bind-address = \"127.0.0.1:%s\"" % rpc, s, count=1)
s = re.sub(r"(?m)^(\s*)dir = \"/var/lib/influxdb/(meta|data)\"", lambda m: "%sdir = \"%s/%s\"" % (m.group(1), dir, m.group(2)), s)
s = re.sub(r"(?m)^(\s*)wal-dir = .*$", lambda m: "%swal-dir = \"%s/wal\"" % (m.group(1), dir), s)
s = re.sub(r"(?m)^(\s*)bind-address = \":8086\"", lambda m: "%sbind-address = \"127.0.0.1:%s\"" % (m.group(1), http), s)
s = s.replace("log-enabled = true", "log-enabled = false")
s = s.replace("reporting-enabled = true", "reporting-enabled = false")
s = re.sub(r"(?m)^(\s*)store-enabled = true", r"\1store-enabled = false", s)
print(s)' "$dir" "$http" "$(free_port)" >"$dir/influxd.conf"
	influxd -config "$dir/influxd.conf" -pidfile "$dir/pid" >"$dir/influxd.log" 2>&1 &
	PIDS+=($!)
	eval "${name}_PID=$!"
	for _ in $(seq 100); do
		curl -sf -o /dev/null "http://127.0.0.1:$http/ping" && return 0
		sleep 0.1
	done
	echo "influxd $name did not start; see $dir/influxd.log" >&2
	exit 1
}

count() { # count PORT: points in demo.cpu on that server
	curl -s "http://127.0.0.1:$1/query" --data-urlencode "db=demo" \
		--data-urlencode "q=SELECT count(value) FROM cpu" |
		python3 -c 'import json,sys; r=json.load(sys.stdin)["results"][0]; print(r["series"][0]["values"][0][1] if "series" in r else 0)'
}

A=$(free_port); B=$(free_port); GATE=$(free_port)
echo "== starting two InfluxDB servers (Debian influxd $(influxd version 2>/dev/null | awk '{print $2}'))"
start_influxd one "$A"
start_influxd two "$B"
echo "   one: http://127.0.0.1:$A    two: http://127.0.0.1:$B"

cat >"$WORK/influxgate.toml" <<TOML
data-dir = "$WORK/influxgate-data"

[[http]]
name = "demo"
bind-addr = "127.0.0.1:$GATE"
output = [
  { name = "one", location = "http://127.0.0.1:$A/write", max-delay-interval = "1s" },
  { name = "two", location = "http://127.0.0.1:$B/write", max-delay-interval = "1s" },
]
TOML
echo "== starting influxgate on http://127.0.0.1:$GATE"
"$BIN" -config "$WORK/influxgate.toml" >"$WORK/influxgate.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$GATE/ping" && break; sleep 0.1; done

influx_cli() { influx -host 127.0.0.1 -port "$GATE" -database demo "$@"; }

echo "== CREATE DATABASE demo through influxgate (a schema change: it reaches both servers)"
influx -host 127.0.0.1 -port "$GATE" -execute "CREATE DATABASE demo"
echo "   databases on one: $(curl -s "http://127.0.0.1:$A/query" --data-urlencode 'q=SHOW DATABASES' | grep -o '"demo"')  on two: $(curl -s "http://127.0.0.1:$B/query" --data-urlencode 'q=SHOW DATABASES' | grep -o '"demo"')"

echo "== writing 1000 points through influxgate with the influx CLI (-import)"
{
	echo "# DML"
	echo "# CONTEXT-DATABASE: demo"
	now=$(date +%s)
	for i in $(seq 0 999); do
		echo "cpu,host=web$((i % 4)),region=eu value=$((i % 97)).5,ok=true $((now - 1000 + i))"
	done
} >"$WORK/sample.txt"
influx_cli -import -path "$WORK/sample.txt" -precision s 2>&1 | sed 's/^/   /'
sleep 0.5
echo "   points in demo.cpu:  one=$(count "$A")  two=$(count "$B")"

echo "== stopping server two, writing 500 more points (influxgate keeps them in its log)"
kill "$two_PID"; wait "$two_PID" 2>/dev/null || true
for i in $(seq 1 5); do
	lines=""
	for j in $(seq 1 100); do lines+="cpu,host=batch$i value=$j $(($(date +%s%N) + j))"$'\n'; done
	curl -s -o /dev/null -w "   write $i: HTTP %{http_code}\n" -XPOST "http://127.0.0.1:$GATE/write?db=demo" --data-binary "$lines"
done
echo "   /health says:"
curl -s "http://127.0.0.1:$GATE/health" | python3 -c '
import json, sys
h = json.load(sys.stdin)
for c in h["checks"]:
    print("     %-4s %-10s backlog=%d records" % (c["name"], c["state"], c["backlog_records"]))'

echo "== restarting server two; influxgate replays the backlog in order"
start_influxd two "$B"
for _ in $(seq 100); do
	[ "$(count "$A")" = "$(count "$B")" ] && break
	sleep 0.2
done
echo "   points in demo.cpu:  one=$(count "$A")  two=$(count "$B")"
if [ "$(count "$A")" = "$(count "$B")" ]; then echo "   the replicas are identical."; else echo "   the replicas differ!"; fi
echo "== a query through influxgate (served by a caught-up server):"
influx_cli -execute "SELECT count(value), mean(value) FROM cpu" | sed 's/^/   /'

cat <<TXT

== influxgate is running on http://127.0.0.1:$GATE — point clients at it:
   Telegraf:    [[outputs.influxdb]]  urls = ["http://127.0.0.1:$GATE"]  database = "demo"
   influx CLI:  influx -host 127.0.0.1 -port $GATE -database demo
   curl:        curl -XPOST 'http://127.0.0.1:$GATE/write?db=demo' --data-binary 'cpu value=1'
   health:      curl http://127.0.0.1:$GATE/health     metrics: http://127.0.0.1:$GATE/metrics
   logs:        $WORK/influxgate.log

Press Ctrl-C to stop everything.
TXT
while true; do sleep 3600; done
