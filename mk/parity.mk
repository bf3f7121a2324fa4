# Kubelet parity: pkg/kubelet's CRI configs against the kubelet's own code
# (k8s.io/kubernetes v1.37.2 built as test binaries from
# test/parity/testdata/oracle). See docs/kubelet-parity.md. The oracle build
# is cached under _output/parity, keyed on its sources and the toolchain; a
# failed build fails the target. Included by the Makefile.

PARITY_SEED ?=
PARITY_PODS ?= 300
PARITY_TIMEOUT ?= 60m

.PHONY: parity

# `make test` runs it after vet, unit and integration.
test: parity

parity: ## kubelet parity against kubelet v1.37.2's own config generation, with a summary table (PARITY_SEED=N reproduces a run, PARITY_PODS=300)
	$(GO) vet -tags parity ./test/parity
	SPECGUARD_PARITY_SEED=$(PARITY_SEED) $(GO) test -tags parity -count=1 -timeout $(PARITY_TIMEOUT) -v -run '^TestKubeletParity$$' ./test/parity -args -parity.pods=$(PARITY_PODS)
