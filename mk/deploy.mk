# Deployment: the image (with or without a container engine), the kustomize
# overlays and their checks. Included by the Makefile.

IMAGE ?= ghcr.io/specguard/specguard:dev
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
IMAGE_DIR := _output/image
IMAGE_ARCHIVE ?= $(IMAGE_DIR)/specguard.oci.tar
CONTAINER_ENGINE ?= docker
OVERLAY ?= enforce
# Reproducible image timestamps: the last commit's time.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# kustomize, pinned in deploy/tools/go.mod and built by the go command.
KUSTOMIZE := cd deploy/tools && $(GO) tool kustomize

.PHONY: image-archive image deploy-tools deploy-check deploy-render

image-archive: ## the image as an OCI archive, no container engine needed (IMAGE=, IMAGE_ARCH=)
	@mkdir -p $(IMAGE_DIR)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(IMAGE_DIR)/specguard-linux-$(IMAGE_ARCH) ./cmd/specguard
	$(GO) run ./deploy/image -binary $(IMAGE_DIR)/specguard-linux-$(IMAGE_ARCH) -name $(IMAGE) -version $(VERSION) -created $(SOURCE_DATE_EPOCH) -o $(IMAGE_ARCHIVE)
	@echo "import with: ctr -n k8s.io images import $(abspath $(IMAGE_ARCHIVE))"

image: ## the image with a container engine (CONTAINER_ENGINE=docker|podman, IMAGE=)
	$(CONTAINER_ENGINE) build -f deploy/image/Dockerfile --build-arg VERSION=$(VERSION) -t $(IMAGE) .

# Cold, helm and promtool take minutes to build on 2 cores: built here, before
# the tests that run them (`go tool` then only links), so a first `go test`
# stays inside its default 10-minute timeout.
deploy-tools: ## build the tools pinned in deploy/tools/go.mod (kustomize, helm, promtool) into Go's build cache
	cd deploy/tools && $(GO) build tool

# `make unit` runs the deploy/ tests; the cluster e2e's TestHelm runs helm.
unit: deploy-tools
e2e-cluster: deploy-tools

deploy-check: deploy-tools ## test the manifests, overlays (pinned kustomize), Helm chart and monitoring (pinned helm, promtool), systemd unit and image recipe
	$(GO) test -race -count=1 ./deploy/...

deploy-render: ## print an overlay's manifests (OVERLAY=audit|enforce|fail-closed)
	@$(KUSTOMIZE) build ../overlays/$(OVERLAY)

# The Helm chart and the monitoring files: helm lint and template of the
# defaults and each example (helm v4.3.2 pinned in deploy/tools/go.mod), the
# defaults compared with deploy/base, bad values refused, the alerts through
# `promtool test rules` and the dashboard's queries through promtool (v0.316.0,
# same go.mod): a subset of deploy-check, which `make unit` runs too; the names they query are
# checked against a real scrape by test/integration (TestMonitoringUsesExportedMetrics)
# and the chart is installed, upgraded and removed by the cluster e2e (TestHelm).
.PHONY: helm-check helm-render
helm-check: deploy-tools ## test the Helm chart (pinned helm), its alerts (promtool test rules) and dashboard queries
	$(GO) test -count=1 -run 'Helm|AlertRules|DashboardQueries' ./deploy/

helm-render: ## print the chart's manifests (VALUES=deploy/helm/specguard/examples/enforce.yaml to add a values file)
	@cd deploy/tools && $(GO) tool helm template specguard ../helm/specguard --namespace specguard-system $(if $(VALUES),-f $(abspath $(VALUES)))
