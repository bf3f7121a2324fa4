// Package cluster runs specguard the way node admins do: installed from
// deploy/ as a DaemonSet (kubectl apply -k) on a real single-node Kubernetes
// v1.37.2 (test/cluster/node), driven by a real kubelet, and checks what
// Kubernetes, the runtime and the container's processes report. See
// docs/e2e.md.
//
// The tests need root, cgroups, the tools of `make cluster-tools`,
// bin/specguard and the image archive of `make image-archive`. Without them
// they fail with the reason; SPECGUARD_E2E_SKIP=1 skips them instead (CI
// never sets it).
package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/specguard/specguard/test/cluster/node"
	"github.com/specguard/specguard/test/e2e/harness"
)

var suite struct {
	root    string
	tools   node.Tools
	archive string // specguard's image as an OCI archive
	envErr  error
}

func TestMain(m *testing.M) {
	root, err := harness.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
	suite.root = root
	suite.tools = node.DefaultTools(root)
	suite.archive = filepath.Join(root, "_output", "image", "specguard.oci.tar")
	if v := os.Getenv("IMAGE_ARCHIVE"); v != "" {
		suite.archive = v
	}
	var missing error
	if _, err := os.Stat(suite.archive); err != nil {
		missing = fmt.Errorf("missing specguard's image archive %s (run `make image-archive`)", suite.archive)
	}
	suite.envErr = errors.Join(harness.CheckHost(), suite.tools.Check(), missing)
	if suite.envErr != nil {
		fmt.Fprintf(os.Stderr, "cluster: this machine cannot run the cluster tests:\n%v\n", suite.envErr)
	}
	os.Exit(m.Run())
}

func requireEnv(t testing.TB) {
	t.Helper()
	harness.RequireEnv(t, suite.envErr, "the cluster tests need root, cgroups, `make cluster-tools build image-archive`")
}
