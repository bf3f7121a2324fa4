# A real single-node Kubernetes (v1.37.2, built from the Go module proxy and
# pinned in test/tools/kube/go.mod) on the e2e's private containerd, with
# specguard installed from deploy/ as a DaemonSet. See docs/e2e.md.
# Included by the Makefile.

CLUSTER_RUN ?= .
CLUSTER_TIMEOUT ?= 40m

.PHONY: cluster-tools cluster cluster-down e2e-cluster

# `make test` runs the cluster scenarios after the e2e.
test: e2e-cluster

cluster-tools: tools ## build etcd, the Kubernetes control plane, kubelet and kubectl into _output/tools/bin (10-20 min cold); CNI plugins come from make tools
	@hack/cluster-tools.sh

cluster: cluster-tools build image-archive ## a single-node Kubernetes with specguard deployed, in the background; prints how to use it
	@$(GO) run ./test/cluster/cmd/nodectl up

cluster-down: ## stop the node of `make cluster` (and of a killed cluster e2e) by pid and remove its state; idempotent
	@$(GO) run ./test/cluster/cmd/nodectl down

e2e-cluster: cluster-tools build image-archive ## the cluster scenarios: specguard as a DaemonSet driven by a real kubelet (root; CLUSTER_RUN=regexp)
	$(GO) test -count=1 -timeout $(CLUSTER_TIMEOUT) -v -run '$(CLUSTER_RUN)' ./test/cluster
