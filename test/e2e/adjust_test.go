package e2e

import (
	"strconv"
	"strings"
	"testing"

	"github.com/specguard/specguard/test/e2e/harness"
)

// bestEffort is what the kubelet sends for a container without requests or
// limits: minimum shares, the default period, oom_score_adj 1000.
var bestEffort = map[string]any{"cpu_shares": 2, "cpu_period": 100000, "oom_score_adj": 1000}

const metadataPolicy = `apiVersion: specguard.io/v1alpha1
kind: Policy
spec:
  node:
    podLogsDir: {{PODLOGS}}
`

// (a) A container created through CRI carries the metadata specguard
// recomputes: restart count, log path, QoS class and the kubelet identity
// mirrored into OCI annotations.
func TestMetadataAnnotations(t *testing.T) {
	s := newStack(t, stackOptions{})
	startPlugin(t, s, metadataPolicy)

	uid := harness.NewUID()
	podID, pod := runPod(t, s, harness.Pod{Name: "web", Namespace: "e2e-meta", UID: uid})
	for _, name := range []string{"app", "sidecar"} {
		ci := runContainer(t, s, podID, pod, harness.Container{Name: name, Resources: bestEffort})
		wantAnnotations(t, ci, map[string]string{
			"specguard.io/restart-count":           "0",
			"specguard.io/log-path":                s.PodLogDir("e2e-meta", "web", uid) + "/" + name + "/0.log",
			"specguard.io/qos-class":               "BestEffort",
			"io.kubernetes.pod.name":               "web",
			"io.kubernetes.pod.namespace":          "e2e-meta",
			"io.kubernetes.pod.uid":                uid,
			"io.kubernetes.container.name":         name,
			"io.kubernetes.container.restartCount": "0",
		})
	}
}

// (b) A rule's env templates are rendered per container and visible in the
// running container's environment.
func TestEnvTemplates(t *testing.T) {
	s := newStack(t, stackOptions{})
	startPlugin(t, s, metadataPolicy+`  rules:
    - name: downward
      match:
        namespaces: ["e2e-env"]
      env:
        - {name: RESTART_COUNT, value: "{{ .RestartCount }}"}
        - {name: POD_LOG_PATH, value: "{{ .LogPath }}"}
        - {name: POD_NAME, value: "{{ .Pod.Name }}"}
        - {name: TEAM, value: "{{ .Pod.Labels.team }}"}
`)
	uid := harness.NewUID()
	podID, pod := runPod(t, s, harness.Pod{Name: "envpod", Namespace: "e2e-env", UID: uid, Labels: map[string]string{"team": "blue"}})
	ci := runContainer(t, s, podID, pod, harness.Container{Name: "app", Resources: bestEffort})
	env := harness.ParseEnv(execOut(t, s, ci.Status.ID, "env"))
	want := map[string]string{
		"RESTART_COUNT": "0",
		"POD_LOG_PATH":  s.PodLogDir("e2e-env", "envpod", uid) + "/app/0.log",
		"POD_NAME":      "envpod",
		"TEAM":          "blue",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("env %s = %q in the container, want %q", k, env[k], v)
		}
	}
	if rules := ci.Info.RuntimeSpec.Annotations["specguard.io/rules"]; !strings.Contains(rules, "downward") {
		t.Errorf("specguard.io/rules = %q, want it to name downward", rules)
	}

	// A pod the rule does not match gets none of it.
	otherID, other := runPod(t, s, harness.Pod{Name: "other", Namespace: "e2e-elsewhere"})
	oc := runContainer(t, s, otherID, other, harness.Container{Name: "app", Resources: bestEffort})
	if v, ok := harness.ParseEnv(execOut(t, s, oc.Status.ID, "env"))["RESTART_COUNT"]; ok {
		t.Errorf("RESTART_COUNT=%q set in a pod the rule does not match", v)
	}
}

const resourcePolicy = metadataPolicy + `  rules:
    - name: limits
      match:
        namespaces: ["e2e-res"]
      resources:
        cpu:
          shares: {default: 256, max: 1024}
        memory:
          limit: {default: 64Mi, max: 128Mi}
        pids:
          limit: {default: 128}
        oomScoreAdj: {min: 500}
        rlimits: [{type: RLIMIT_NOFILE, soft: 4096, hard: 8192}]
        onViolation: clamp
`

// (c) Resource defaults and bounds reach the kernel: the container's cgroup
// (v1 or v2 files), its oom_score_adj and its rlimits.
func TestResources(t *testing.T) {
	s := newStack(t, stackOptions{})
	startPlugin(t, s, resourcePolicy)
	podID, pod := runPod(t, s, harness.Pod{Name: "res", Namespace: "e2e-res"})

	cases := map[string]struct {
		resources map[string]any
		shares    uint64
		memory    int64
	}{
		"defaults": {resources: nil, shares: 256, memory: 64 << 20},
		"clamped":  {resources: map[string]any{"cpu_shares": 4096, "memory_limit_in_bytes": 1 << 30}, shares: 1024, memory: 128 << 20},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ci := runContainer(t, s, podID, pod, harness.Container{Name: name, Resources: tc.resources})
			cg := ci.Info.RuntimeSpec.Linux.CgroupsPath
			l, err := harness.ReadCgroupLimits(cg)
			if err != nil {
				t.Fatal(err)
			}
			if !l.SharesMatch(tc.shares) {
				t.Errorf("cgroup v%d %s: cpu shares %d (weight %d), want %d", l.Version, cg, l.CPUShares, l.CPUWeight, tc.shares)
			}
			if l.Memory != tc.memory {
				t.Errorf("cgroup v%d %s: memory limit %d, want %d", l.Version, cg, l.Memory, tc.memory)
			}
			if l.Pids != 128 {
				t.Errorf("cgroup v%d %s: pids.max %d, want 128", l.Version, cg, l.Pids)
			}
			id := ci.Status.ID
			if got := execOut(t, s, id, "cat", "/proc/1/oom_score_adj"); got != "500" {
				t.Errorf("/proc/1/oom_score_adj = %s, want 500 (raised to the rule's min)", got)
			}
			if got := execOut(t, s, id, "sh", "-c", "ulimit -n; ulimit -Hn"); got != "4096\n8192" {
				t.Errorf("ulimit -n / -Hn = %q, want 4096 and 8192", got)
			}
		})
	}
}

// Seccomp: a rule that injects the runtime's default profile into containers
// that run unconfined puts them in seccomp filter mode.
func TestSeccompInjected(t *testing.T) {
	s := newStack(t, stackOptions{})
	startPlugin(t, s, metadataPolicy+`  rules:
    - name: seccomp
      match:
        namespaces: ["e2e-seccomp"]
      security:
        seccomp: {unconfined: inject}
`)
	mode := func(ns string) string {
		podID, pod := runPod(t, s, harness.Pod{Name: "sec", Namespace: ns})
		ci := runContainer(t, s, podID, pod, harness.Container{Name: "app", Resources: bestEffort})
		for _, line := range strings.Split(execOut(t, s, ci.Status.ID, "cat", "/proc/1/status"), "\n") {
			if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
				return strings.TrimSpace(v)
			}
		}
		return "?"
	}
	if got := mode("e2e-unmatched"); got != "0" {
		t.Fatalf("an unmatched container has Seccomp: %s; the test expects containerd to run it unconfined (0)", got)
	}
	if got := mode("e2e-seccomp"); got != "2" {
		t.Errorf("matched container has Seccomp: %s, want 2 (filter: the default profile injected)", got)
	}
}

// (d) A refusal surfaces in crictl create's error with specguard's reason,
// and no container is left behind; a compliant container still starts.
func TestRefusal(t *testing.T) {
	s := newStack(t, stackOptions{})
	startPlugin(t, s, metadataPolicy+`  rules:
    - name: memory-cap
      match:
        namespaces: ["e2e-refuse"]
      resources:
        memory:
          limit: {max: 128Mi}
        onViolation: reject
`)
	podID, pod := runPod(t, s, harness.Pod{Name: "greedy", Namespace: "e2e-refuse"})
	_, err := s.CreateContainer(podID, s.ContainerConfig(pod, harness.Container{
		Name: "big", Resources: map[string]any{"memory_limit_in_bytes": 1 << 30},
	}), pod)
	if err == nil {
		t.Fatal("a container over the memory max was created; want a refusal")
	}
	msg := crictlErr(err)
	t.Logf("crictl create: %s", strings.TrimSpace(msg))
	for _, want := range []string{"memory-cap", "memory", "128Mi"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not mention %q", msg, want)
		}
	}
	out, err := s.Crictl("ps", "-a", "-q", "--pod", podID)
	if err != nil {
		t.Fatal(err)
	}
	if ids := strings.Fields(out); len(ids) != 0 {
		t.Errorf("refused container left behind: %v", ids)
	}

	ci := runContainer(t, s, podID, pod, harness.Container{
		Name: "small", Resources: map[string]any{"memory_limit_in_bytes": 64 << 20},
	})
	if l, err := harness.ReadCgroupLimits(ci.Info.RuntimeSpec.Linux.CgroupsPath); err != nil || l.Memory != 64<<20 {
		t.Errorf("compliant container: memory limit %d (%v), want %d", l.Memory, err, 64<<20)
	}
}

// restartCount reads specguard's restart-count annotation.
func restartCount(t *testing.T, ci *harness.ContainerInspect) int {
	t.Helper()
	v, ok := ci.Info.RuntimeSpec.Annotations[harness.AnnotationRestartCount]
	if !ok {
		t.Fatalf("container %s has no %s annotation: not adjusted by specguard", ci.Status.ID, harness.AnnotationRestartCount)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s = %q: %v", harness.AnnotationRestartCount, v, err)
	}
	return n
}
