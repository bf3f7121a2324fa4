// Package harness runs a private containerd (its own root, state, sockets and
// NRI socket) with runc and the built specguard as an external NRI plugin, and
// drives pods and containers through crictl. The e2e tests and `make demo`
// use it; everything it starts is recorded in pid files so that a later
// process can clean up (Cleanup) when the one that started it is gone.
package harness

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Module is the main module's path, used to find the repository root.
const Module = "github.com/specguard/specguard"

// Tools are the binaries the stack runs.
type Tools struct {
	Bin       string // directory holding containerd, containerd-shim-runc-v2, ctr, crictl, runc
	Specguard string // the plugin binary
	Busybox   string // a static busybox, packed as the test image
}

// Path returns the path of one of the tools in Bin.
func (t Tools) Path(name string) string { return filepath.Join(t.Bin, name) }

// DefaultTools returns the tools where `make tools build` puts them under the
// repository root. SPECGUARD_TOOLS_BIN and SPECGUARD_BIN override the tools
// directory and the plugin binary.
func DefaultTools(root string) Tools {
	t := Tools{
		Bin:       filepath.Join(root, "_output", "tools", "bin"),
		Specguard: filepath.Join(root, "bin", "specguard"),
		Busybox:   "/bin/busybox",
	}
	if v := os.Getenv("SPECGUARD_TOOLS_BIN"); v != "" {
		t.Bin = v
	}
	if v := os.Getenv("SPECGUARD_BIN"); v != "" {
		t.Specguard = v
	}
	return t
}

// Check reports every missing tool, each with the command that provides it.
func (t Tools) Check() error {
	var errs []error
	for _, name := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "crictl", "runc"} {
		if !isExecutable(t.Path(name)) {
			errs = append(errs, fmt.Errorf("missing %s (run `make tools`)", t.Path(name)))
		}
	}
	if !isExecutable(t.Specguard) {
		errs = append(errs, fmt.Errorf("missing %s (run `make build`)", t.Specguard))
	}
	if !isExecutable(t.Busybox) {
		errs = append(errs, fmt.Errorf("missing %s (run `make tools`, which installs busybox-static)", t.Busybox))
	}
	return errors.Join(errs...)
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// CheckHost reports why this machine cannot run the stack: containerd and
// runc need root, and the container checks need cgroups.
func CheckHost() error {
	var errs []error
	if os.Geteuid() != 0 {
		errs = append(errs, fmt.Errorf("not root (euid %d): a private containerd and runc need root", os.Geteuid()))
	}
	if CgroupVersion() == 0 {
		errs = append(errs, errors.New("no cgroups mounted at /sys/fs/cgroup (neither v1 cpu/memory/pids nor v2)"))
	}
	return errors.Join(errs...)
}

// RepoRoot finds the repository root: the nearest directory above the
// working directory whose go.mod declares Module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if modulePath(filepath.Join(dir, "go.mod")) == Module {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s above the working directory", Module)
		}
		dir = parent
	}
}

func modulePath(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }() // read only
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// RequireEnv fails t when envErr says the machine cannot run the tests,
// naming what they need; SPECGUARD_E2E_SKIP=1 makes it a skip instead (CI
// never sets it).
func RequireEnv(t testing.TB, envErr error, needs string) {
	t.Helper()
	if envErr == nil {
		return
	}
	msg := fmt.Sprintf("%s:\n%v", needs, envErr)
	if os.Getenv("SPECGUARD_E2E_SKIP") == "1" {
		t.Skip(msg + "\n(skipped: SPECGUARD_E2E_SKIP=1)")
	}
	t.Fatal(msg + "\n(set SPECGUARD_E2E_SKIP=1 to skip instead)")
}
