# End to end: a private containerd with NRI, runc and crictl (pinned in
# test/tools/go.mod), bin/specguard as an external NRI plugin, real pods and
# containers driven through crictl. See docs/e2e.md. Included by the Makefile.

E2E_RUN ?= .
E2E_TIMEOUT ?= 15m
CRITEST_TIMEOUT ?= 60m

.PHONY: tools e2e critest demo demo-down e2e-cleanup

# `make test` runs the e2e and the CRI conformance run after vet, unit and
# integration.
test: e2e critest

tools: ## install the e2e tools: apt packages, containerd/ctr/shim v2.4.2, crictl and critest v1.37.0, runc v1.4.4, CNI plugins v1.9.1 into _output/tools/bin
	@hack/tools.sh

e2e: build ## real containerd end to end (root; E2E_RUN=regexp; SPECGUARD_E2E_SKIP=1 skips where it cannot run)
	@hack/tools.sh || [ "$$SPECGUARD_E2E_SKIP" = 1 ]
	$(GO) test -count=1 -timeout $(E2E_TIMEOUT) -v -run '$(E2E_RUN)' ./test/e2e/...

critest: build ## CRI validation suite (critest v1.37.0) without a plugin, with specguard's default policy, with deploy/overlays/audit (root; fails where it cannot run)
	@hack/tools.sh
	$(GO) test -count=1 -timeout $(CRITEST_TIMEOUT) -v ./test/critest/...

demo: tools build ## start a private containerd with specguard and a sample pod in the background, show what changed
	@$(GO) run ./test/e2e/cmd/stackctl demo

demo-down: ## stop the demo (and stacks of killed e2e runs) by pid, remove its state; idempotent
	@$(GO) run ./test/e2e/cmd/stackctl down

e2e-cleanup: demo-down ## same as demo-down
