# influxgate — the README's two commands are `make demo` and `make test`.
GO          ?= go
CACHE       ?= $(HOME)/.cache/influxgate
INFLUXD18   ?= $(CACHE)/influxd-1.8.10/influxd
export INFLUXD_1_8 := $(INFLUXD18)

.PHONY: all build demo test deps debian-deps influxd-1.8 vet fmt clean

all: build

build:
	$(GO) build -o bin/influxgate ./cmd/influxgate

# demo: two real influxd, influxgate in front, sample traffic; Ctrl-C ends it.
demo: debian-deps build
	scripts/demo.sh

# deps installs what the tests need: Debian's influxdb (1.6.7) and the influx
# CLI, and influxd 1.8.10 (for the /api/v2 endpoints) built into the cache.
deps: debian-deps influxd-1.8

debian-deps:
	scripts/install-deps.sh

influxd-1.8: $(INFLUXD18)

$(INFLUXD18):
	CGO_ENABLED=0 GOBIN=$(dir $(INFLUXD18)) GOFLAGS=-mod=mod \
		$(GO) install -ldflags=-s github.com/influxdata/influxdb/cmd/influxd@v1.8.10

test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin dist

# bench runs every benchmark scenario with short windows and prints the
# table (docs/performance.md). Not part of test: nothing here asserts timing.
# The influxd scenario needs Debian's influxd (make deps). Pass more flags
# with BENCHFLAGS, e.g. BENCHFLAGS="-relay influxdb-relay=/path/to/binary".
BENCH_PIN   ?= 1
BENCHFLAGS  ?=
.PHONY: bench
bench:
	$(GO) build -o bin/influxgate-bench ./cmd/influxgate-bench
	$(GO) build -o bin/influxgate ./cmd/influxgate
	bin/influxgate-bench -scenario all -runs 3 -warmup 1s -duration 5s -drain-timeout 60s \
		-pin $(BENCH_PIN) -influxgate bin/influxgate -json bin/bench.json $(BENCHFLAGS)
