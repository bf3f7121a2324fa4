// Package critest runs the Kubernetes CRI validation suite (critest from
// sigs.k8s.io/cri-tools, pinned in test/tools/go.mod) against the private
// containerd of test/e2e's harness, three times in one run: without any NRI
// plugin, with specguard on its built-in default policy, and with specguard
// on the shipped audit-mode policy (deploy/overlays/audit). A case that
// passes without specguard must pass with it; see docs/e2e.md.
//
// It needs what the e2e tests need (root, cgroups, `make tools`, `make
// build`) plus the CNI plugins and critest that `make tools` builds and
// iptables. Where it cannot run it fails with the reason; it never skips.
package critest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/specguard/specguard/test/e2e/harness"
)

var suite struct {
	root     string
	tools    harness.Tools
	archives []string  // the images imported before critest runs, see images_test.go
	registry *registry // every image, under its public names
	hosts    string    // containerd's registry config_path: the registry as every registry's mirror
	out      string    // _output/critest: logs and reports of the last run
	envErr   error
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := harness.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "critest:", err)
		return 1
	}
	suite.root = root
	suite.tools = harness.DefaultTools(root)
	suite.out = filepath.Join(root, "_output", "critest")
	suite.envErr = errors.Join(harness.CheckHost(), suite.tools.Check(), checkCritest(suite.tools))
	if suite.envErr != nil {
		return m.Run()
	}
	if err := harness.SweepStale(func(f string, a ...any) { fmt.Fprintf(os.Stderr, "critest: "+f+"\n", a...) }); err != nil {
		fmt.Fprintln(os.Stderr, "critest: stale stacks:", err)
	}
	dir, err := os.MkdirTemp("", "sgcriimg-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "critest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	var all map[string][]string
	if suite.archives, all, err = writeImages(dir, suite.tools.Busybox); err != nil {
		fmt.Fprintln(os.Stderr, "critest: building the test images:", err)
		return 1
	}
	if suite.registry, err = newRegistry(all); err != nil {
		fmt.Fprintln(os.Stderr, "critest: test registry:", err)
		return 1
	}
	defer suite.registry.close()
	suite.hosts = filepath.Join(dir, "certs.d")
	if err := writeHosts(suite.hosts, suite.registry.addr); err != nil {
		fmt.Fprintln(os.Stderr, "critest:", err)
		return 1
	}
	return m.Run()
}

func checkCritest(t harness.Tools) error {
	if st, err := os.Stat(t.Path("critest")); err != nil || st.Mode()&0o111 == 0 {
		return fmt.Errorf("missing %s (run `make tools`)", t.Path("critest"))
	}
	return nil
}

// requireEnv fails the test when the machine cannot run it. There is no
// skip: a conformance run that silently does not happen proves nothing.
func requireEnv(t *testing.T) {
	t.Helper()
	if suite.envErr != nil {
		t.Fatalf("the CRI conformance run needs root, cgroups, `make tools` and `make build`:\n%v", suite.envErr)
	}
}
