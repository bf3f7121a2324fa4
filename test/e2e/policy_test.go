package e2e

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/specguard/specguard/test/e2e/harness"
)

// Audit mode changes and refuses nothing: the container runs as asked and
// carries what the rule would have done in specguard.io/violations.
func TestAuditMode(t *testing.T) {
	s := newStack(t, stackOptions{})
	startPlugin(t, s, metadataPolicy+`  rules:
    - name: memory-cap
      mode: audit
      match:
        namespaces: ["e2e-audit"]
      resources:
        memory:
          limit: {max: 128Mi}
        onViolation: reject
`)
	podID, pod := runPod(t, s, harness.Pod{Name: "audited", Namespace: "e2e-audit"})
	ci := runContainer(t, s, podID, pod, harness.Container{Name: "big", Resources: map[string]any{"memory_limit_in_bytes": 1 << 30}})
	if v := ci.Info.RuntimeSpec.Annotations["specguard.io/violations"]; !strings.Contains(v, "memory-cap") {
		t.Errorf("specguard.io/violations = %q, want a finding of rule memory-cap", v)
	}
	if l, err := harness.ReadCgroupLimits(ci.Info.RuntimeSpec.Linux.CgroupsPath); err != nil || l.Memory != 1<<30 {
		t.Errorf("audited container: memory limit %d (%v), want the requested %d", l.Memory, err, 1<<30)
	}
}

// Pod annotations may override a rule's value where the rule allows it,
// within its bounds.
func TestOverrides(t *testing.T) {
	s := newStack(t, stackOptions{})
	startPlugin(t, s, metadataPolicy+`  rules:
    - name: memory
      match:
        namespaces: ["e2e-override"]
      resources:
        memory:
          limit: {default: 64Mi, max: 512Mi}
        onViolation: clamp
      overrides:
        allow: [resources.memory.limit]
`)
	podID, pod := runPod(t, s, harness.Pod{Name: "tuned", Namespace: "e2e-override", Annotations: map[string]string{
		"memory.limit.specguard.io/container.app": "256Mi",
		"memory.limit.specguard.io/container.big": "4Gi",
	}})
	for name, want := range map[string]int64{"app": 256 << 20, "big": 512 << 20, "other": 64 << 20} {
		ci := runContainer(t, s, podID, pod, harness.Container{Name: name})
		if l, err := harness.ReadCgroupLimits(ci.Info.RuntimeSpec.Linux.CgroupsPath); err != nil || l.Memory != want {
			t.Errorf("container %s: memory limit %d (%v), want %d", name, l.Memory, err, want)
		}
	}
}

// A container whose kubelet labels contradict its sandbox is refused where
// the identity check is enforced (here: spec.metadata.identityCheck unset,
// following the policy's enforce mode). The built-in default only reports
// it; make critest covers that (critest sends such labels).
func TestIdentitySpoofing(t *testing.T) {
	s := newStack(t, stackOptions{})
	startPlugin(t, s, metadataPolicy)
	podID, pod := runPod(t, s, harness.Pod{Name: "honest", Namespace: "e2e-identity"})
	cfg := s.ContainerConfig(pod, harness.Container{Name: "app"})
	cfg["labels"].(map[string]string)["io.kubernetes.pod.name"] = "victim"
	_, err := s.CreateContainer(podID, cfg, pod)
	if err == nil {
		t.Fatal("a container labelled as another pod's was created; want a refusal")
	}
	if msg := crictlErr(err); !strings.Contains(msg, "io.kubernetes.pod.name") || !strings.Contains(msg, "victim") {
		t.Errorf("refusal %q does not name the contradicting label", msg)
	}
}

// The policy file is reloaded while specguard runs; a broken edit is
// refused and the last good policy stays in force.
func TestHotReload(t *testing.T) {
	s := newStack(t, stackOptions{})
	policy := func(version string) string {
		return metadataPolicy + `  rules:
    - name: versioned
      env:
        - {name: POLICY_VERSION, value: "` + version + `"}
`
	}
	path := startPlugin(t, s, policy("one"))
	podID, pod := runPod(t, s, harness.Pod{Name: "reload", Namespace: "e2e-reload"})
	attempt := 0
	version := func() string {
		t.Helper()
		ci := runContainer(t, s, podID, pod, harness.Container{Name: "app", Attempt: attempt})
		attempt++
		_ = s.RemoveContainer(ci.Status.ID)
		return ci.Env()["POLICY_VERSION"]
	}
	waitVersion := func(want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for got := version(); got != want; got = version() {
			if time.Now().After(deadline) {
				t.Fatalf("POLICY_VERSION = %q 15s after the policy changed, want %q", got, want)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	if got := version(); got != "one" {
		t.Fatalf("POLICY_VERSION = %q, want one", got)
	}
	replaceFile(t, path, strings.ReplaceAll(policy("two"), "{{PODLOGS}}", s.PodLogsDir()))
	waitVersion("two")

	replaceFile(t, path, "apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n    - name: broken\n      mode: sometimes\n")
	deadline := time.Now().Add(15 * time.Second)
	for metric(t, s, `specguard_policy_reloads_total{result="failure"}`) < 1 {
		if time.Now().After(deadline) {
			t.Fatal(`specguard_policy_reloads_total{result="failure"} still 0 15s after a broken policy was written`)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if got := version(); got != "two" {
		t.Errorf("after a broken edit POLICY_VERSION = %q, want the last good policy's two", got)
	}
	if exited, how := s.PluginExited(); exited {
		t.Errorf("specguard exited on a broken policy: %s", how)
	}
}

// replaceFile writes content to path atomically, as editors and ConfigMap
// updates do.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// metric returns the value of one sample of specguard's /metrics, -1 when
// it is absent.
func metric(t *testing.T, s *harness.Stack, sample string) float64 {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + s.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := re.FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("%s: %v", sample, err)
	}
	return v
}
