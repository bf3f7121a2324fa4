# Fuzzing: each target for FUZZTIME. Crashers land in the package's
# testdata/fuzz/<Target>/ and become regression cases of `make unit`.
FUZZTIME ?= 15s
# Each new interesting input is minimized for up to this long, and the
# fuzzer executes nothing else meanwhile (Go's default, 60s, stalled whole
# runs: "execs: N (0/sec)").
FUZZMINIMIZETIME ?= 5s
FUZZ_TARGETS := \
	./pkg/policy:FuzzParse ./pkg/policy:FuzzParseFieldValue ./pkg/policy:FuzzRender ./pkg/policy:FuzzGlobMatch \
	./pkg/engine:FuzzDecide ./pkg/engine:FuzzDecideNRI ./pkg/engine:FuzzOverrideBounds \
	./pkg/restarts:FuzzRecovery ./plugin:FuzzPluginEvents ./internal/wire:FuzzTrimSync ./internal/wire:FuzzReadLeanCreate ./pkg/engine:FuzzCleanPath \
	./pkg/kubelet/podgen:FuzzExpandVars ./pkg/kubelet/podgen:FuzzGenerate \
	./pkg/engine:FuzzOverridePrivilege ./pkg/engine:FuzzDevices ./pkg/engine:FuzzSysctlNames \
	./pkg/engine:FuzzLogPath ./pkg/kubelet:FuzzLogDirConfined

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (default 15s; FUZZMINIMIZETIME=5s)
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "==> $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run XXX -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg; \
	done
