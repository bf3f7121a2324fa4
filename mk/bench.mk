# Benchmarks (issue 8, docs/performance.md): the engine alone, CreateContainer
# through the real NRI runtime half against a no-op plugin, the built
# binary's memory and startup, and container creation on the e2e stack's real
# containerd. Raw output goes to _output/bench.txt; the table to stdout.
# Included by the Makefile.

BENCH_COUNT ?= 5
BENCH_OUT ?= _output/bench.txt
# The e2e stack needs root and `make tools`; BENCH_E2E=0 leaves it out.
BENCH_E2E ?= 1

# bench-cluster: pods timed per condition (at least 40).
BENCH_CLUSTER_PODS ?= 40
BENCH_CLUSTER_OUT ?= _output/bench-cluster.txt

.PHONY: bench bench-cluster

bench: build ## benchmarks vs PRODUCT.md targets (BENCH_COUNT=5 runs, BENCH_E2E=0 skips real containerd): one table of every figure, ratio, spread
	@mkdir -p $(dir $(BENCH_OUT))
	@{ \
	  $(GO) test -run '^$$' -bench '^BenchmarkDecide$$' -benchtime 20000x -count $(BENCH_COUNT) ./pkg/engine/ && \
	  $(GO) test -run '^$$' -bench 'DecideWorstCase' -benchtime 200x -count $(BENCH_COUNT) ./pkg/engine/ && \
	  $(GO) test -run '^$$' -bench 'CreateContainer|Handler' -benchtime 3000x -count $(BENCH_COUNT) ./test/bench/ && \
	  SPECGUARD_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench 'CreateProcess' -benchtime 3000x -count $(BENCH_COUNT) ./test/bench/ && \
	  SPECGUARD_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench 'Startup' -benchtime 20x -count $(BENCH_COUNT) ./test/bench/ && \
	  SPECGUARD_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench 'TrackedMemory' -benchtime 1x -count $(BENCH_COUNT) ./test/bench/ && \
	  if [ "$(BENCH_E2E)" = 1 ]; then \
	    hack/tools.sh >/dev/null 2>&1 || echo "# make tools failed: BenchmarkContainerdCreate skips itself"; \
	    SPECGUARD_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench 'ContainerdCreate' -benchtime 300x -count $(BENCH_COUNT) -timeout 60m ./test/bench/; \
	  fi; \
	} > $(BENCH_OUT) 2>&1 || { cat $(BENCH_OUT); exit 1; }
	@echo "# nproc: $$(nproc); $$(grep -m1 'model name' /proc/cpuinfo); $$(uptime)"
	@$(GO) run ./test/bench/cmd/benchtable < $(BENCH_OUT)

# Not part of `make bench` or `make test`: it runs a whole Kubernetes node
# (root, /var/run/nri/nri.sock free) for several minutes. -v: without it Go
# cuts a benchmark's log (the per-round lines) after ten lines.
bench-cluster: cluster-tools build image-archive ## pod startup (created to Ready) on a real kubelet, with vs without specguard, interleaved (BENCH_CLUSTER_PODS=40 per condition)
	@mkdir -p $(dir $(BENCH_CLUSTER_OUT))
	@echo "# nproc: $$(nproc); $$(grep -m1 'model name' /proc/cpuinfo); before: $$(uptime)"
	@$(GO) test -run '^$$' -bench 'PodStartup' -benchtime $(BENCH_CLUSTER_PODS)x -timeout 30m -v ./test/cluster/ \
	  > $(BENCH_CLUSTER_OUT) 2>&1 || { cat $(BENCH_CLUSTER_OUT); exit 1; }
	@echo "# after: $$(uptime)"
	@grep -E '^ +podstartup_bench_test.go:[0-9]+: round' $(BENCH_CLUSTER_OUT) || true
	@$(GO) run ./test/bench/cmd/benchtable < $(BENCH_CLUSTER_OUT)
