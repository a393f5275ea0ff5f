# influxgate — the README's two commands are `make demo` and `make test`.
GO          ?= go
CACHE       ?= $(HOME)/.cache/influxgate
INFLUXD18   ?= $(CACHE)/influxd-1.8.10/influxd
export INFLUXD_1_8 := $(INFLUXD18)
# Telegraf for the client tests (internal/e2e/clients_telegraf_test.go),
# built with only the plugins they use: exec + the influx parser feed known
# points, outputs.influxdb and outputs.influxdb_v2 write them through
# influxgate, inputs.influxdb reads /debug/vars and outputs.file shows what
# it read.
TELEGRAF_VERSION ?= v1.37.2
TELEGRAF    ?= $(CACHE)/telegraf-$(TELEGRAF_VERSION:v%=%)/telegraf
TELEGRAF_TAGS := custom,inputs.exec,inputs.influxdb,parsers.influx,serializers.influx,outputs.influxdb,outputs.influxdb_v2,outputs.file
export TELEGRAF_BIN := $(TELEGRAF)
# nats-server for the replicated log's tests and benchmarks
# (internal/testnats): a release with priority groups and per-message TTLs,
# built from source into the cache like influxd 1.8.
NATS_VERSION ?= v2.14.10
NATS_SERVER ?= $(CACHE)/nats-server-$(NATS_VERSION:v%=%)/nats-server
export NATS_SERVER
# Prometheus for the remote write and read tests
# (internal/e2e/prom_prometheus_test.go), built without the service
# discoveries of cloud platforms (tag remove_all_sd): static targets are
# all the tests use. Module version v0.316.0 is Prometheus 3.16.0.
PROMETHEUS_VERSION ?= v0.316.0
PROMETHEUS  ?= $(CACHE)/prometheus-$(PROMETHEUS_VERSION:v%=%)/prometheus
export PROMETHEUS_BIN := $(PROMETHEUS)

# Packaging: VERSION goes into the binary and the .deb (a Debian version
# must start with a digit). nfpm is pinned at v2.45.0: later releases need
# modules that the module proxy available here does not serve.
VERSION     ?= 0.1.0~dev
GOARCH      ?= $(shell $(GO) env GOARCH)
NFPM        ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.0

.PHONY: all build demo test test-faults test-nats fuzz deps debian-deps influxd-1.8 telegraf nats-server prometheus vet fmt clean deb

all: build

build:
	$(GO) build -o bin/influxgate ./cmd/influxgate

# demo: two real influxd, influxgate in front, sample traffic; Ctrl-C ends it.
demo: build
	scripts/install-deps.sh demo
	scripts/demo.sh

# deps installs what the tests need: Debian's influxdb (1.6.7), the influx
# CLI, python3-influxdb, haproxy and nginx, influxd 1.8.10 (for the /api/v2
# endpoints), Telegraf, Prometheus and nats-server (for [log-store]
# engine = "nats") built into the cache.
deps: debian-deps influxd-1.8 telegraf prometheus nats-server

debian-deps:
	scripts/install-deps.sh

influxd-1.8: $(INFLUXD18)

$(INFLUXD18):
	CGO_ENABLED=0 GOBIN=$(dir $(INFLUXD18)) GOFLAGS=-mod=mod \
		$(GO) install -ldflags=-s github.com/influxdata/influxdb/cmd/influxd@v1.8.10

nats-server: $(NATS_SERVER)

$(NATS_SERVER):
	CGO_ENABLED=0 GOBIN=$(dir $(NATS_SERVER)) GOFLAGS=-mod=mod \
		$(GO) install -ldflags=-s github.com/nats-io/nats-server/v2@$(NATS_VERSION)

telegraf: $(TELEGRAF)

$(TELEGRAF):
	CGO_ENABLED=0 GOBIN=$(dir $(TELEGRAF)) GOFLAGS=-mod=mod \
		$(GO) install -ldflags=-s -tags "$(TELEGRAF_TAGS)" \
		github.com/influxdata/telegraf/cmd/telegraf@$(TELEGRAF_VERSION)

prometheus: $(PROMETHEUS)

$(PROMETHEUS):
	CGO_ENABLED=0 GOBIN=$(dir $(PROMETHEUS)) GOFLAGS=-mod=mod \
		$(GO) install -ldflags=-s -tags remove_all_sd \
		github.com/prometheus/prometheus/cmd/prometheus@$(PROMETHEUS_VERSION)

# test runs every test, the short fault suite (internal/e2e, TestFault* and
# TestHostile*) included, then each fuzz target for FUZZTIME.
# INFLUXGATE_PACKAGE_TEST lets the e2e test install the .deb into this
# machine (dpkg -i, then purge); plain `go test` leaves the system alone.
# INFLUXGATE_REQUIRE_CLIENTS makes the real-client tests (Telegraf,
# Prometheus, python3-influxdb, HAProxy, nginx) fail instead of skip when a client is
# missing.
FUZZTIME    ?= 5s
SOAK        ?= 30m

# The tests that measure something (rolling restarts behind HAProxy and
# nginx, failed requests, lost points) append a line to TEST_REPORT, which
# is printed after the run: go test shows nothing of a passing test.
TEST_REPORT ?= $(CURDIR)/bin/test-report.txt

test: deps
	$(GO) vet ./...
	mkdir -p $(dir $(TEST_REPORT)) && rm -f $(TEST_REPORT)
	INFLUXGATE_PACKAGE_TEST=1 INFLUXGATE_REQUIRE_CLIENTS=1 INFLUXGATE_TEST_REPORT=$(TEST_REPORT) \
		$(GO) test -race -count=1 -timeout 20m ./...
	@echo "== measured by the tests ($(TEST_REPORT)):"; sort $(TEST_REPORT) 2>/dev/null || true
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

# fuzz runs each fuzz target for FUZZTIME (e.g. make fuzz FUZZTIME=10m).
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

# test-faults runs the fault and hostile-client suite with the long soak
# (SOAK of faults under load, a 3-minute backend outage in every cycle) and
# prints the audit of every acknowledged point. Needs root for the tmpfs of
# the disk-full fault; without it that fault is skipped and said so.
test-faults: deps
	$(GO) test -count=1 -v -timeout 3h -run 'TestFault|TestHostile' ./internal/e2e -soak=$(SOAK)

# test-nats runs the tests of [log-store] engine = "nats" against a real
# three-server NATS cluster: the jetlog package, the e2e tests that make
# test runs too, and the fault suite in nats mode (build tag nats; about a
# minute and a half), which audits every acknowledged point.
test-nats: deps
	$(GO) vet -tags nats ./internal/e2e
	$(GO) test -race -count=1 -timeout 15m ./internal/testnats ./internal/jetlog
	$(GO) test -tags nats -race -count=1 -timeout 15m -run 'TestNATS' -v ./internal/e2e

# deb: dist/influxgate_<version>_<arch>.deb with the binary, the systemd
# unit, the sample config and the docs (contrib/deb/nfpm.yaml).
deb:
	mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build -trimpath \
		-ldflags "-s -w -X main.version=$(VERSION)" -o dist/influxgate ./cmd/influxgate
	VERSION='$(VERSION)' GOARCH=$(GOARCH) $(NFPM) package --packager deb \
		--config contrib/deb/nfpm.yaml --target dist/

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin dist

# bench runs every benchmark scenario with short windows and prints the
# table (docs/performance.md). Not part of test: nothing here asserts timing.
# The influxd scenario needs Debian's influxd (make deps). The other relays
# (built from their source as docs/performance.md says, outside this tree)
# join the same run with BENCH_PEERS, e.g.
#   make bench BENCH_PEERS="influxdb-relay=$$HOME/peers/influxdb-relay influx-proxy=$$HOME/peers/influx-proxy inmate=$$HOME/peers/inmate"
# Pass more flags with BENCHFLAGS. The side-by-side table also goes to
# bin/bench.md as Markdown, headed by the date and the machine.
BENCH_PIN   ?= 1
BENCH_PEERS ?=
BENCHFLAGS  ?=
.PHONY: bench
bench:
	$(GO) build -o bin/influxgate-bench ./cmd/influxgate-bench
	$(GO) build -o bin/influxgate ./cmd/influxgate
	bin/influxgate-bench -scenario all -runs 3 -warmup 1s -duration 5s -drain-timeout 60s \
		-pin $(BENCH_PIN) -influxgate bin/influxgate -json bin/bench.json -markdown bin/bench.md \
		$(foreach p,$(BENCH_PEERS),-relay $(p)) $(BENCHFLAGS)
