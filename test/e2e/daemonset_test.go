package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/specguard/specguard/test/e2e/harness"
)

const imageRef = "ghcr.io/specguard/specguard:e2e"

// TestSpecguardAsContainer proves the DaemonSet's shape on real containerd:
// specguard runs from its own image (built locally, no registry), as uid 0
// with every capability dropped, no privilege escalation and a read-only
// root, with the NRI socket's directory, the policy directory and the pod
// logs mounted read-only, as deploy/base/daemonset.yaml does; and it
// adjusts other containers.
func TestSpecguardAsContainer(t *testing.T) {
	s := newStack(t, stackOptions{})
	dir := t.TempDir()
	archive := filepath.Join(dir, "specguard.oci.tar")
	build := exec.Command("go", "run", "./deploy/image", "-binary", suite.tools.Specguard, "-name", imageRef, "-o", archive)
	build.Dir = suite.root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the image archive: %v\n%s", err, out)
	}
	if err := s.ImportImage(archive); err != nil {
		t.Fatal(err)
	}
	policyDir := filepath.Join(s.Dir, "etc-specguard")
	os.MkdirAll(policyDir, 0o755)
	if err := os.WriteFile(filepath.Join(policyDir, "policy.yaml"), []byte(strings.ReplaceAll(markerPolicy, "{{PODLOGS}}", "/var/log/pods")), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(s.PodLogsDir(), 0o755)

	podID, pod := runPod(t, s, harness.Pod{Name: "specguard-abcde", Namespace: "specguard-system",
		Annotations: map[string]string{"tolerate-missing-nri-plugins.noderesource.dev": "true"}})
	cfg := s.ContainerConfig(pod, harness.Container{
		Name: "specguard",
		SecurityContext: map[string]any{
			"run_as_user":     map[string]any{"value": 0},
			"readonly_rootfs": true,
			"no_new_privs":    true,
			"capabilities":    map[string]any{"drop_capabilities": []string{"ALL"}},
		},
		Extra: map[string]any{
			"image": map[string]any{"image": imageRef},
			"args": []string{"run", "--config", "/etc/specguard/policy.yaml", "--socket-path", "/var/run/nri/nri.sock",
				"--log-format", "json"},
			"mounts": []map[string]any{
				{"container_path": "/var/run/nri", "host_path": s.SockDir, "readonly": true},
				{"container_path": "/etc/specguard", "host_path": policyDir, "readonly": true},
				{"container_path": "/var/log/pods", "host_path": s.PodLogsDir(), "readonly": true},
			},
		},
	})
	sgID, err := s.RunContainer(podID, cfg, pod)
	if err != nil {
		t.Fatalf("starting specguard's container: %v", err)
	}
	// specguard logs to stderr; crictl logs would print that on its own
	// stderr, so read the CRI log file.
	logPath, err := s.Crictl("inspect", "-o", "go-template", "--template", "{{.status.logPath}}", sgID)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		logs, _ := os.ReadFile(strings.TrimSpace(logPath))
		if strings.Contains(string(logs), "registered with the runtime") {
			break
		}
		if time.Now().After(deadline) {
			status, _ := s.Crictl("inspect", "-o", "go-template", "--template", "{{.status.state}} exit {{.status.exitCode}}", sgID)
			t.Fatalf("specguard's container (%s) did not register in 20s; its log:\n%s", strings.TrimSpace(status), logs)
		}
		time.Sleep(200 * time.Millisecond)
	}

	spec := inspect(t, s, sgID).Info.RuntimeSpec
	if spec.Root == nil || !spec.Root.Readonly || spec.Process == nil || !spec.Process.NoNewPrivileges ||
		spec.Process.Capabilities == nil || len(spec.Process.Capabilities.Effective) != 0 || spec.Process.User.UID != 0 {
		t.Errorf("specguard's container does not run as the DaemonSet says (read-only root, no new privileges, no capabilities, uid 0): %+v %+v", spec.Root, spec.Process)
	}

	appPodID, appPod := runPod(t, s, harness.Pod{Name: "app", Namespace: "e2e-daemonset"})
	ci := runContainer(t, s, appPodID, appPod, harness.Container{Name: "app", Resources: bestEffort})
	wantAnnotations(t, ci, map[string]string{"specguard.io/restart-count": "0", "specguard.io/rules": "marker"})
	if env := ci.Env(); env["SPECGUARD_RESTART_COUNT"] != "0" {
		t.Errorf("SPECGUARD_RESTART_COUNT = %q in the adjusted container's spec", env["SPECGUARD_RESTART_COUNT"])
	}
	if got := execOut(t, s, ci.Status.ID, "sh", "-c", "echo $SPECGUARD_RESTART_COUNT"); got != "0" {
		t.Errorf("inside the container: SPECGUARD_RESTART_COUNT=%q", got)
	}
}
