//go:build parity

package parity

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The kubelet the oracle is built from. Its go.mod replaces the staging
// modules with ./staging/..., which the module zip lacks; each is pointed
// at its published release, as test/tools/kube/go.mod does.
const (
	kubernetesModule  = "k8s.io/kubernetes"
	kubernetesVersion = "v1.37.2"
	stagingVersion    = "v0.37.2"
)

// The oracle halves: the package each is copied into and the binary built.
var oracleHalves = []struct{ name, pkg string }{
	{"kubelet", "pkg/kubelet"},
	{"kuberuntime", "pkg/kubelet/kuberuntime"},
}

// oracle is the built pair of test binaries.
type oracle struct {
	binaries  map[string]string // half -> _output/parity/oracle/<half>-<key>.test
	built     []string          // the halves this run built
	buildTime time.Duration
}

func (o *oracle) binary(half string) string { return o.binaries[half] }

// buildOracle returns the oracle binaries for the current oracle sources,
// building a half when _output/parity/oracle has none for its key. What
// goes into a binary is in its key: its oracle source, the kubernetes
// version, the Go toolchain and the platform.
func buildOracle(t *testing.T, repo string) *oracle {
	t.Helper()
	out := filepath.Join(repo, "_output", "parity")
	o := &oracle{binaries: map[string]string{}}
	sources := map[string][]byte{}
	missing := false
	for _, half := range oracleHalves {
		b, err := os.ReadFile(filepath.Join("testdata", "oracle", half.name, "specguard_oracle_test.go"))
		if err != nil {
			t.Fatalf("oracle source: %v", err)
		}
		sources[half.name] = b
		h := sha256.New()
		fmt.Fprintln(h, kubernetesModule, kubernetesVersion, stagingVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH, half.pkg)
		h.Write(b)
		o.binaries[half.name] = filepath.Join(out, "oracle", half.name+"-"+hex.EncodeToString(h.Sum(nil))[:16]+".test")
		missing = missing || !exists(o.binaries[half.name])
	}
	if !missing {
		return o
	}
	start := time.Now()
	src, err := prepareKubernetesSource(repo, filepath.Join(out, "k8s"))
	if err != nil {
		t.Fatalf("oracle: preparing the %s@%s source: %v", kubernetesModule, kubernetesVersion, err)
	}
	if err := os.MkdirAll(filepath.Join(out, "oracle"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, half := range oracleHalves {
		if exists(o.binary(half.name)) {
			continue
		}
		if err := os.WriteFile(filepath.Join(src, half.pkg, "specguard_oracle_test.go"), sources[half.name], 0o644); err != nil {
			t.Fatalf("oracle: %v", err)
		}
		t.Logf("building the %s oracle (go test -c ./%s in %s; ~8 min cold on 2 cores)", half.name, half.pkg, src)
		tmp := o.binary(half.name) + ".tmp"
		cmd := exec.Command("go", "test", "-c", "-o", tmp, "./"+half.pkg)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("oracle: go test -c ./%s in %s: %v\n%s", half.pkg, src, err, b)
		}
		if err := os.Rename(tmp, o.binary(half.name)); err != nil {
			t.Fatal(err)
		}
		o.built = append(o.built, half.name)
	}
	o.buildTime = time.Since(start)
	return o
}

// prepareKubernetesSource makes a writable copy of the kubernetes module
// that builds on its own: the staging replaces point at the published
// modules, without go.work or vendor/. A copy with the marker file is reused.
func prepareKubernetesSource(repo, dst string) (string, error) {
	marker := filepath.Join(dst, ".specguard-prepared")
	if exists(marker) {
		return dst, nil
	}
	cmd := exec.Command("go", "mod", "download", "-json", kubernetesModule+"@"+kubernetesVersion)
	cmd.Dir = filepath.Join(repo, "test", "tools", "kube")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download: %v: %s", err, stderr.Bytes())
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(b, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("go mod download: no module directory in %q (%v %s)", b, err, mod.Error)
	}
	if err := os.RemoveAll(dst); err != nil {
		return "", err
	}
	if err := os.CopyFS(dst, os.DirFS(mod.Dir)); err != nil {
		return "", fmt.Errorf("copying %s: %w", mod.Dir, err)
	}
	for _, p := range []string{"go.work", "go.work.sum", "vendor"} {
		if err := os.RemoveAll(filepath.Join(dst, p)); err != nil {
			return "", err
		}
	}
	gomod := filepath.Join(dst, "go.mod")
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	staging := regexp.MustCompile(`(?m)^(\s*)(k8s\.io/[A-Za-z0-9._-]+) => \./staging/src/k8s\.io/[A-Za-z0-9._-]+\s*$`)
	n := len(staging.FindAll(data, -1))
	if n == 0 {
		return "", errors.New("go.mod: no ./staging replace found to rewrite")
	}
	data = staging.ReplaceAll(data, []byte("${1}${2} => ${2} "+stagingVersion))
	if err := os.WriteFile(gomod, data, 0o644); err != nil {
		return "", err
	}
	// The published staging modules' checksums, as the pinned tool module
	// has them.
	sums, err := os.ReadFile(filepath.Join(repo, "test", "tools", "kube", "go.sum"))
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(filepath.Join(dst, "go.sum"), os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(sums); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return dst, os.WriteFile(marker, []byte(fmt.Sprintf("%d staging replaces rewritten\n", n)), 0o644)
}

// runOracle runs one half's TestSpecguardOracle with the given files.
func runOracle(t *testing.T, o *oracle, half string, env map[string]string) {
	t.Helper()
	cmd := exec.Command(o.binary(half), "-test.run", "^TestSpecguardOracle$", "-test.count=1")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	b, err := cmd.CombinedOutput()
	logFile := filepath.Join(filepath.Dir(env["SPECGUARD_ORACLE_OUT"]), half+".log")
	if werr := os.WriteFile(logFile, b, 0o644); werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatalf("oracle %s: %v (whole output in %s)\n%s", half, err, logFile, tail(b, 4000))
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}
