// Command nodectl brings up and tears down the single-node Kubernetes of
// `make cluster` (test/cluster/node) with specguard deployed from deploy/.
//
//	nodectl up     start the node under _output/cluster and install specguard
//	nodectl down   stop everything it started, by pid, and remove its state
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/specguard/specguard/test/cluster/node"
	"github.com/specguard/specguard/test/e2e/harness"
)

func main() {
	if len(os.Args) != 2 || (os.Args[1] != "up" && os.Args[1] != "down") {
		fmt.Fprintln(os.Stderr, "usage: nodectl up|down")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "nodectl:", err)
		os.Exit(1)
	}
}

func run(cmd string) error {
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, "_output", "cluster")
	logf := func(f string, a ...any) { fmt.Printf("[cluster] "+f+"\n", a...) }
	if cmd == "down" {
		return node.Cleanup(dir, logf)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	overlay := os.Getenv("CLUSTER_OVERLAY")
	if overlay == "" {
		overlay = "test/cluster/testdata/overlay"
	}
	archive := os.Getenv("IMAGE_ARCHIVE")
	if archive == "" {
		archive = filepath.Join(root, "_output", "image", "specguard.oci.tar")
	}
	n, err := node.Start(ctx, node.Options{Tools: node.DefaultTools(root), Dir: dir, Logf: logf})
	if err != nil {
		return err
	}
	kubectl := filepath.Join(n.Tools.KubeBin, "kubectl") + " --kubeconfig " + n.Kubeconfig()
	if err := n.InstallSpecguard(archive, root, overlay, 3*time.Minute); err != nil {
		// The node stays up so that what went wrong can be looked at.
		return fmt.Errorf("installing specguard: %w\nthe node is still up: %s -n %s describe pods; make cluster-down stops it",
			err, kubectl, node.Namespace)
	}
	fmt.Printf(`
A single-node Kubernetes %s runs on this machine with specguard deployed
(kubectl apply -k %s). Everything listens on 127.0.0.1; state is in %s.

  alias kubectl='%s'
  kubectl -n %s get pods                      # specguard's pod
  kubectl create deployment web --image %s -- sleep 3600
  kubectl create namespace sg-demo && kubectl -n sg-demo run shell --image %s --image-pull-policy Never -- sleep 3600
  kubectl -n sg-demo exec shell -- env | grep -E 'RESTART_COUNT|POD_LOG_PATH'

Images come from no registry: use %s with imagePullPolicy Never (or
IfNotPresent). Logs: %s/logs/*.log (control plane, kubelet),
%s/containerd/containerd.log, pods under %s.
Stop it with: make cluster-down
`, "v1.37.2", overlay, dir, kubectl, node.Namespace, harness.ImageRef, harness.ImageRef, harness.ImageRef, dir, dir, node.PodLogsDir)
	return nil
}
