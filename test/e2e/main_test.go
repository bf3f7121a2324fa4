// Package e2e runs specguard against a real, private containerd with runc and
// drives pods and containers through crictl, checking every adjustment on
// the running container: its runtime spec, its environment, its cgroup, its
// /proc. See docs/e2e.md.
//
// The tests need root, cgroups, the tools from `make tools` and bin/specguard
// from `make build`. Without them they fail with the reason; set
// SPECGUARD_E2E_SKIP=1 to skip them instead (CI never does).
package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/specguard/specguard/test/e2e/harness"
)

// suite is what every test needs, set up once by TestMain.
var suite struct {
	root    string        // repository root
	tools   harness.Tools // binaries
	archive string        // the busybox OCI archive, built once
	envErr  error         // why this machine cannot run the tests
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := harness.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	suite.root = root
	suite.tools = harness.DefaultTools(root)
	suite.envErr = errors.Join(harness.CheckHost(), suite.tools.Check())
	if suite.envErr == nil {
		// Stacks of test binaries that died without cleaning up.
		if err := harness.SweepStale(func(f string, a ...any) { fmt.Fprintf(os.Stderr, "e2e: "+f+"\n", a...) }); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stale stacks:", err)
		}
		dir, err := os.MkdirTemp("", "sgimg-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		suite.archive = filepath.Join(dir, "busybox.tar")
		if err := harness.WriteBusyboxImageFile(suite.archive, harness.ImageRef, suite.tools.Busybox); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building the test image:", err)
			return 1
		}
	} else {
		fmt.Fprintf(os.Stderr, "e2e: this machine cannot run the e2e tests:\n%v\n", suite.envErr)
	}
	return m.Run()
}

// requireEnv fails the test (or skips it with SPECGUARD_E2E_SKIP=1) when the
// machine cannot run the e2e tests.
func requireEnv(t *testing.T) {
	t.Helper()
	harness.RequireEnv(t, suite.envErr, "e2e needs root, cgroups, `make tools` and `make build`")
}
