# influxgate — the README's two commands are `make demo` and `make test`.
GO          ?= go
CACHE       ?= $(HOME)/.cache/influxgate
INFLUXD18   ?= $(CACHE)/influxd-1.8.10/influxd
export INFLUXD_1_8 := $(INFLUXD18)

.PHONY: all build demo test test-faults fuzz deps debian-deps influxd-1.8 vet fmt clean

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

# test runs every test, the short fault suite (internal/e2e, TestFault* and
# TestHostile*) included, then each fuzz target for FUZZTIME.
FUZZTIME    ?= 5s
SOAK        ?= 30m

test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
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

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin dist
