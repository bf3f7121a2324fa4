package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/specguard/specguard/test/e2e/harness"
)

const securityPolicy = metadataPolicy + `  rules:
    - name: non-root
      match: {namespaces: ["e2e-nonroot"]}
      security:
        runAsNonRoot: true
    - name: no-host-namespaces
      match: {namespaces: ["e2e-hostns"]}
      security:
        hostNamespaces: deny
    - name: host-paths
      match: {namespaces: ["e2e-hostpath"]}
      security:
        hostPaths: {deny: ["/etc/**"]}
    - name: no-devices
      match: {namespaces: ["e2e-devices"]}
      security:
        devices: deny
    - name: masks
      match: {namespaces: ["e2e-mask"]}
      security:
        maskedPaths: ["/etc/group"]
`

// Security rules refuse what they must, with a reason, and let the rest
// through; masks hide what they name.
func TestSecurity(t *testing.T) {
	s := newStack(t, stackOptions{})
	startPlugin(t, s, securityPolicy)

	// refused creates a container in a fresh pod of namespace ns and
	// expects specguard to refuse it with a message containing all of want.
	refused := func(t *testing.T, ns string, c harness.Container, want ...string) {
		t.Helper()
		podID, pod := runPod(t, s, harness.Pod{Name: "p", Namespace: ns})
		_, err := s.CreateContainer(podID, s.ContainerConfig(pod, c), pod)
		if err == nil {
			t.Fatalf("container %s in %s created; want a refusal mentioning %q", c.Name, ns, want)
		}
		msg := crictlErr(err)
		t.Logf("refused: %s", lastLine(msg))
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("refusal does not mention %q: %s", w, lastLine(msg))
			}
		}
	}

	t.Run("runAsNonRoot", func(t *testing.T) {
		// The image has no USER: it runs as uid 0 unless told otherwise.
		refused(t, "e2e-nonroot", harness.Container{Name: "root"}, "non-root")
		podID, pod := runPod(t, s, harness.Pod{Name: "ok", Namespace: "e2e-nonroot"})
		ci := runContainer(t, s, podID, pod, harness.Container{Name: "nobody",
			SecurityContext: map[string]any{"run_as_user": map[string]any{"value": 65534}}})
		if uid := execOut(t, s, ci.Status.ID, "id", "-u"); uid != "65534" {
			t.Errorf("id -u = %s, want 65534", uid)
		}
	})
	t.Run("hostNamespaces", func(t *testing.T) {
		// Every pod of the stack uses the host network.
		refused(t, "e2e-hostns", harness.Container{Name: "app"}, "no-host-namespaces", "network")
	})
	t.Run("hostPaths", func(t *testing.T) {
		refused(t, "e2e-hostpath", harness.Container{Name: "etc", Extra: map[string]any{
			"mounts": []map[string]any{{"container_path": "/host-etc", "host_path": "/etc", "readonly": true}},
		}}, "host-paths", "/etc")
		dir := filepath.Join(s.Dir, "shared")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		podID, pod := runPod(t, s, harness.Pod{Name: "ok", Namespace: "e2e-hostpath"})
		runContainer(t, s, podID, pod, harness.Container{Name: "shared", Extra: map[string]any{
			"mounts": []map[string]any{{"container_path": "/shared", "host_path": dir}},
		}})
	})
	t.Run("devices", func(t *testing.T) {
		refused(t, "e2e-devices", harness.Container{Name: "dev", Extra: map[string]any{
			"devices": []map[string]any{{"container_path": "/dev/xnull", "host_path": "/dev/null", "permissions": "rwm"}},
		}}, "no-devices")
	})
	t.Run("maskedPaths", func(t *testing.T) {
		podID, pod := runPod(t, s, harness.Pod{Name: "masked", Namespace: "e2e-mask"})
		ci := runContainer(t, s, podID, pod, harness.Container{Name: "app"})
		if got := execOut(t, s, ci.Status.ID, "sh", "-c", "wc -c < /etc/group"); got != "0" {
			t.Errorf("/etc/group has %s bytes in the container, want 0 (masked)", got)
		}
	})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
