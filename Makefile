# specguard: the front door. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/specguard
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: help build test check unit integration vet lint clean

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build bin/specguard
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/specguard

test: vet lint unit integration ## everything CI runs: vet, lint, unit and integration tests (race detector on), then e2e and the CRI conformance run on real containerd

check: vet lint unit integration ## the fast loop, without containerd or a cluster: vet, lint, unit and integration tests

vet: ## go vet
	$(GO) vet ./...

GOLANGCI_LINT := _output/tools/bin/golangci-lint

lint: ## golangci-lint (pinned in test/tools/lint/go.mod, built on first use; config in .golangci.yml)
	@mkdir -p $(dir $(GOLANGCI_LINT))
	cd test/tools/lint && $(GO) build -o $(abspath $(GOLANGCI_LINT)) github.com/golangci/golangci-lint/v2/cmd/golangci-lint
	$(GOLANGCI_LINT) run ./...

unit: ## unit tests of every package, with the race detector
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -vE '/test/(e2e|integration|cluster|critest)')

integration: ## the built binary against the real NRI runtime half over a socket
	$(GO) test -race -count=1 ./test/integration/...

clean: ## remove build output
	rm -rf bin

# Each area keeps its own targets in mk/<area>.mk (e2e and demo, deploy, bench, fuzz).
-include mk/*.mk
