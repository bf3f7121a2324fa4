package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/specguard/specguard/test/e2e/harness"
)

// stackOptions tune newStack.
type stackOptions struct {
	failClosed bool // import deploy/containerd/fail-closed.toml
}

// newStack starts a private containerd for the test and registers its
// cleanup. On failure the daemons' logs are printed; SPECGUARD_E2E_KEEP=1
// keeps the stack's directory (the processes are stopped either way).
func newStack(t *testing.T, o stackOptions) *harness.Stack {
	t.Helper()
	requireEnv(t)
	opts := harness.Options{
		Tools:        suite.tools,
		ImageArchive: suite.archive,
		Owner:        os.Getpid(),
		Logf:         t.Logf,
	}
	if o.failClosed {
		opts.Imports = []string{filepath.Join(suite.root, "deploy", "containerd", "fail-closed.toml")}
	}
	s, err := harness.Start(opts)
	if err != nil {
		t.Fatalf("starting containerd: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("containerd log (%s):\n%s", s.ContainerdLog(), harness.Tail(s.ContainerdLog(), 25))
			t.Logf("specguard log (%s):\n%s", s.SpecguardLog(), harness.Tail(s.SpecguardLog(), 40))
		}
		if os.Getenv("SPECGUARD_E2E_KEEP") == "1" {
			keep := filepath.Join(suite.root, "test", "e2e", "_work", filepath.Base(s.Dir))
			_ = os.MkdirAll(keep, 0o755)
			for _, f := range []string{s.ContainerdLog(), s.SpecguardLog(), s.ConfigPath()} {
				if b, err := os.ReadFile(f); err == nil {
					_ = os.WriteFile(filepath.Join(keep, filepath.Base(f)), b, 0o644)
				}
			}
			_ = copyDir(filepath.Join(s.Dir, "configs"), filepath.Join(keep, "configs"))
			t.Logf("kept logs and configs in %s", keep)
		}
		if err := s.Down(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return s
}

// startPlugin writes policy (with {{PODLOGS}} replaced by the stack's pod
// logs directory) and starts specguard on it, waiting until it adjusts
// containers.
func startPlugin(t *testing.T, s *harness.Stack, policy string) string {
	t.Helper()
	path := writePolicy(t, s, policy)
	if err := s.StartPlugin(path); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitPluginReady(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	return path
}

func writePolicy(t *testing.T, s *harness.Stack, policy string) string {
	t.Helper()
	path := filepath.Join(s.Dir, "policy.yaml")
	policy = strings.ReplaceAll(policy, "{{PODLOGS}}", s.PodLogsDir())
	if err := os.WriteFile(path, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runPod runs a pod and returns its id and config.
func runPod(t *testing.T, s *harness.Stack, p harness.Pod) (string, map[string]any) {
	t.Helper()
	cfg := s.PodConfig(p)
	id, err := s.RunPod(cfg)
	if err != nil {
		t.Fatalf("runp %s/%s: %v", p.Namespace, p.Name, err)
	}
	return id, cfg
}

// runContainer creates and starts a container and returns its inspection.
func runContainer(t *testing.T, s *harness.Stack, podID string, pod map[string]any, c harness.Container) *harness.ContainerInspect {
	t.Helper()
	id, err := s.RunContainer(podID, s.ContainerConfig(pod, c), pod)
	if err != nil {
		t.Fatalf("container %s: %v", c.Name, err)
	}
	return inspect(t, s, id)
}

func inspect(t *testing.T, s *harness.Stack, id string) *harness.ContainerInspect {
	t.Helper()
	ci, err := s.Inspect(id)
	if err != nil {
		t.Fatal(err)
	}
	return ci
}

// execOut runs a command in the container and returns its trimmed output.
func execOut(t *testing.T, s *harness.Stack, id string, argv ...string) string {
	t.Helper()
	out, err := s.Exec(id, argv...)
	if err != nil {
		t.Fatalf("exec %v in %s: %v", argv, id, err)
	}
	return strings.TrimSpace(out)
}

// wantAnnotations checks annotations of the container's runtime spec.
func wantAnnotations(t *testing.T, ci *harness.ContainerInspect, want map[string]string) {
	t.Helper()
	got := ci.Info.RuntimeSpec.Annotations
	for k, v := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("runtime spec annotation %s missing (want %q)", k, v)
		} else if g != v {
			t.Errorf("runtime spec annotation %s = %q, want %q", k, g, v)
		}
	}
	if t.Failed() {
		t.Logf("runtime spec annotations of %s: %v", ci.Status.Metadata.Name, specguardAnnotations(got))
	}
}

func specguardAnnotations(all map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range all {
		if strings.HasPrefix(k, "specguard.io/") || strings.HasPrefix(k, "io.kubernetes.pod.") || strings.HasPrefix(k, "io.kubernetes.container.") {
			out[k] = v
		}
	}
	return out
}

// crictlErr returns the stderr of a failed crictl command.
func crictlErr(err error) string {
	var ce *harness.CrictlError
	if errors.As(err, &ce) {
		return ce.Stderr
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func copyDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			continue
		}
		_ = os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
