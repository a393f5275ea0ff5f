#!/bin/sh
# Installs the Debian packages influxgate's tests and demo need, when missing.
# "scripts/install-deps.sh demo" installs only what make demo needs.
set -e
need=""
command -v influxd >/dev/null 2>&1 || need="$need influxdb"
command -v influx >/dev/null 2>&1 || need="$need influxdb-client"
# headless Chromium for the status page's browser test
[ "${1:-}" = demo ] || [ -x /usr/bin/chromium ] || need="$need chromium"
# the Python client the client tests drive (run with Debian's python3, which
# is the one the package installs into)
[ "${1:-}" = demo ] || /usr/bin/python3 -c 'import influxdb' >/dev/null 2>&1 || need="$need python3-influxdb"
# the load balancers the multi-node tests put in front of influxgate
# (internal/e2e/deployment_test.go, with the configs of contrib/); Debian
# installs them in /usr/sbin and does not start them here
[ "${1:-}" = demo ] || [ -x /usr/sbin/haproxy ] || command -v haproxy >/dev/null 2>&1 || need="$need haproxy"
[ "${1:-}" = demo ] || [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need="$need nginx"
[ -z "$need" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing:$need"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need
