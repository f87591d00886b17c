# Weir's everyday targets. `make test` is what CI runs (through .ci/run).

GO       ?= go
PKGS     ?= ./...
FUZZTIME ?= 60s
# Short fuzz runs inside `make test`.
TEST_FUZZTIME ?= 3s
# Tests write many small files and fsync them; on a tmpfs they run ~50x
# faster than on a VM disk. Use /dev/shm when it is there.
TEST_TMPDIR ?= $(shell [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo $${TMPDIR:-/tmp})

.PHONY: build run test test-race bench fuzz lint e2e chaos bench-cluster

build:
	$(GO) build $(PKGS)
	$(GO) build -o bin/weir ./cmd/weir

run:
	$(GO) run ./cmd/weir serve

test: lint
	TMPDIR=$(TEST_TMPDIR) $(GO) test -count=1 $(PKGS)
	TMPDIR=$(TEST_TMPDIR) FUZZTIME=$(TEST_FUZZTIME) ./scripts/fuzz.sh
	$(MAKE) --no-print-directory e2e

# The real weir binary driven by kcat and kafkajs; deps.sh installs them.
e2e:
	./scripts/deps.sh && TMPDIR=$(TEST_TMPDIR) ./scripts/e2e.sh

test-race:
	TMPDIR=$(TEST_TMPDIR) $(GO) test -race -count=1 $(PKGS)

# The broker benchmarks (cmd/weir) run Weir against kfake on a fixed number
# of records, so that `make bench` stays within a few minutes; the RSS one
# writes 2 GiB once.
BENCH_BROKER_TIME ?= 200000x

bench:
	TMPDIR=$(TEST_TMPDIR) $(GO) test -run '^$$' -bench . -skip '^Benchmark(Broker|Cluster)' -benchmem $(PKGS)
	TMPDIR=$(TEST_TMPDIR) $(GO) test -run '^$$' -bench '^BenchmarkBroker(Produce|Consume)$$' -benchtime $(BENCH_BROKER_TIME) -benchmem ./cmd/weir
	TMPDIR=$(TEST_TMPDIR) $(GO) test -run '^$$' -bench '^BenchmarkBrokerRSS$$' -benchtime 1x ./cmd/weir
	$(MAKE) --no-print-directory bench-cluster

# The long chaos run: three weir processes, RF=3, minISR=2, random faults
# (SIGKILL, SIGSTOP, network cuts, restarts) for WEIR_CHAOS_DURATION under
# an idempotent acks=all producer, then every invariant checked and the
# report printed. `make test` runs the short form (TestChaos, a few faults
# of each kind). Replay a run with WEIR_CHAOS_SEED=<seed from the report>.
WEIR_CHAOS_DURATION ?= 5m
chaos:
	TMPDIR=$(TEST_TMPDIR) WEIR_CHAOS_DURATION=$(WEIR_CHAOS_DURATION) $(GO) test -count=1 -v -timeout 0 -run '^TestChaos$$' ./cmd/weir

# acks=all produce throughput, 3 brokers with RF=3 against 1 broker with
# RF=1, as a ratio (part of `make bench`).
BENCH_CLUSTER_TIME ?= 100000x
bench-cluster:
	TMPDIR=$(TEST_TMPDIR) $(GO) test -run '^$$' -bench '^BenchmarkClusterProduce$$' -benchtime $(BENCH_CLUSTER_TIME) -benchmem ./cmd/weir

fuzz:
	TMPDIR=$(TEST_TMPDIR) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
