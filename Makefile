# Strata — build, run, test. `make run` and `make test` are the two commands a new machine needs.
SHELL := /bin/bash
GO ?= go
TOOLS := $(CURDIR)/.tools
TOOLS_BIN := $(TOOLS)/bin
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
STATICCHECK_VERSION := v0.8.2
export STRATA_TOOLS_BIN := $(TOOLS_BIN)
export PATH := $(TOOLS_BIN):$(PATH)

.PHONY: all build run cluster cluster-down cluster-status test test-go test-console test-kgo console-tools console-screenshots tools clients lint bench bench-go fuzz clean

all: build

build:
	$(GO) build -o bin/strata ./cmd/strata

run: build
	./bin/strata server

# A local cluster: MinIO, three NATS servers, three nodes on 9092-9094 (HTTP 8080-8082), everything
# under ./cluster. CLUSTER_FLAGS passes flags (`./bin/strata dev cluster up -h` lists them).
cluster: build $(TOOLS_BIN)/minio
	./bin/strata dev cluster up $(CLUSTER_FLAGS)

cluster-down: build
	./bin/strata dev cluster down $(CLUSTER_FLAGS)

cluster-status: build
	./bin/strata dev cluster status $(CLUSTER_FLAGS)

tools: $(TOOLS_BIN)/minio $(TOOLS_BIN)/staticcheck

$(TOOLS_BIN)/minio:
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/minio/minio@$(MINIO_VERSION)

$(TOOLS_BIN)/staticcheck:
	GOBIN=$(TOOLS_BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# Real Kafka clients for the compatibility suite (kcat, kafkajs, Java kafka-clients, confluent-kafka).
clients:
	bash testdata/compat/install.sh

# Everything: unit, acceptance (real MinIO, embedded NATS), race on the concurrent packages, and the
# compatibility suite with real clients over TCP.
test: tools clients test-go test-console test-kgo

test-go:
	STRATA_REQUIRE_TOOLS=1 $(GO) test -p 2 -timeout 30m ./...
	STRATA_REQUIRE_TOOLS=1 $(GO) test -race -p 2 -timeout 30m $$($(GO) list ./tier/... ./metadata/... ./ingest/... ./compaction/... ./query/... | grep -v /ingest/compat)

# franz-go's own integration suite (pkg/kgo from the franz-go module go.mod names) against one node.
test-kgo: build
	STRATA_BIN=$(CURDIR)/bin/strata bash testdata/compat/kgo/run.sh

# The web console in a real browser: Playwright (npm, pinned) driving Debian's chromium against a
# real `strata server`. Skips, saying so, only where chromium cannot be installed.
console-tools:
	bash ingest/console/testdata/e2e/install.sh

test-console: build
	STRATA_BIN=$(CURDIR)/bin/strata bash ingest/console/testdata/e2e/run.sh

# Screenshots of every console page into docs/console/ (the same tests, one run).
console-screenshots: build
	STRATA_BIN=$(CURDIR)/bin/strata STRATA_CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console bash ingest/console/testdata/e2e/run.sh

lint: $(TOOLS_BIN)/staticcheck
	@$(GO) mod tidy -diff || { echo 'go.mod/go.sum are not tidy: run `go mod tidy` and commit the result' >&2; exit 1; }
	$(GO) vet ./...
	$(TOOLS_BIN)/staticcheck ./...

# Go micro-benchmarks of the packages (segment, hot log, object store, metadata, produce path).
bench-go: tools
	STRATA_REQUIRE_TOOLS=1 $(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./tier/... ./metadata/... ./ingest/...

# Strata side by side with Apache Kafka: bench-quick (three rounds, ~15 minutes), bench-full; bench = bench-full + bench-go.
include bench/Makefile.inc

# Short fuzz pass over every decoder of outside bytes.
fuzz:
	bash .ci/fuzz.sh 20s

clean:
	rm -rf bin data
