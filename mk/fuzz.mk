# Fuzzing: each target for FUZZTIME. Crashers land in the package's
# testdata/fuzz/<Target>/ and become regression cases of `make unit`.
FUZZTIME ?= 20s
FUZZ_TARGETS := \
	./pkg/policy:FuzzParse ./pkg/policy:FuzzParseFieldValue ./pkg/policy:FuzzRender \
	./pkg/engine:FuzzDecide ./pkg/restarts:FuzzRecovery \
	./pkg/kubelet:FuzzExpandVars ./pkg/kubelet:FuzzGenerate

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (default 20s)
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "==> $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run XXX -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg; \
	done
