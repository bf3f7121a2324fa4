package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/specguard/specguard/test/e2e/harness"
)

// (h) Kubelet-shaped configs: `specguard generate` turns a Pod manifest into
// the CRI PodSandboxConfig and ContainerConfig the kubelet would send, and
// the containers created from them carry what the kubelet computes plus
// what specguard recomputes, consistently.
func TestKubeletShaped(t *testing.T) {
	s := newStack(t, stackOptions{})
	startPlugin(t, s, metadataPolicy+`  rules:
    - name: downward
      match:
        namespaces: ["e2e-kubelet"]
      env:
        - {name: RESTART_COUNT, value: "{{ .RestartCount }}"}
        - {name: POD_LOG_PATH, value: "{{ .LogPath }}"}
`)
	const (
		ns   = "e2e-kubelet"
		name = "shop"
		uid  = "6f1f3c3e-1111-4222-8333-444455556666"
	)
	manifest := filepath.Join(suite.root, "test", "e2e", "testdata", "kubelet-pod.yaml")

	pod, ctr := generate(t, s, manifest, "web", 0)
	// What the kubelet derives from hostNetwork: node network, no hostname.
	if v := lookup(pod, "linux", "security_context", "namespace_options", "network"); fmt.Sprint(v) != "2" {
		t.Errorf("generate: podSandboxConfig.linux.security_context.namespace_options.network = %v, want 2 (NODE) for hostNetwork", v)
	}
	if h, ok := pod["hostname"]; ok && h != "" {
		t.Errorf("generate: podSandboxConfig.hostname = %v; the kubelet sets none for hostNetwork pods", h)
	}
	if got, want := fmt.Sprint(pod["log_directory"]), "/var/log/pods/"+ns+"_"+name+"_"+uid; got != want {
		t.Errorf("generate: log_directory = %s, want %s", got, want)
	}
	relocate(s, pod)
	kubeletFiles(t, s, ctr)
	podID, err := s.RunPod(pod)
	if err != nil {
		t.Fatalf("runp of the generated podSandboxConfig: %v", err)
	}
	id, err := s.RunContainer(podID, ctr, pod)
	if err != nil {
		t.Fatalf("create/start of the generated containerConfig: %v", err)
	}
	ci := inspect(t, s, id)
	logDir := s.PodLogDir(ns, name, uid)
	wantAnnotations(t, ci, map[string]string{
		"io.kubernetes.container.restartCount": "0",
		"specguard.io/restart-count":           "0",
		"specguard.io/log-path":                logDir + "/web/0.log",
		"specguard.io/qos-class":               "Burstable",
		"io.kubernetes.pod.name":               name,
		"io.kubernetes.pod.namespace":          ns,
		"io.kubernetes.pod.uid":                uid,
		"io.kubernetes.container.name":         "web",
	})

	// The kubelet's resource formulas reach the cgroup: request 250m -> 256
	// shares, limit 500m -> quota 50000 per 100000, limit 128Mi.
	l, err := harness.ReadCgroupLimits(ci.Info.RuntimeSpec.Linux.CgroupsPath)
	if err != nil {
		t.Fatal(err)
	}
	if !l.SharesMatch(256) || l.CPUQuota != 50000 || l.CPUPeriod != 100000 || l.Memory != 128<<20 {
		t.Errorf("cgroup: %+v, want shares 256, quota 50000, period 100000, memory %d", l, 128<<20)
	}
	// Burstable oom_score_adj as generated, but containerd only lets it rise
	// above its own (restrict_oom_score_adj).
	if req, ok := lookup(ctr, "linux", "resources", "oom_score_adj").(float64); ok {
		want := max(int(req), ownOOMScoreAdj(t))
		if got := execOut(t, s, id, "cat", "/proc/1/oom_score_adj"); got != strconv.Itoa(want) {
			t.Errorf("/proc/1/oom_score_adj = %s, want %d", got, want)
		}
	} else {
		t.Errorf("generate: containerConfig.linux.resources.oom_score_adj missing; the kubelet sets it for a Burstable pod")
	}
	env := harness.ParseEnv(execOut(t, s, id, "env"))
	for k, v := range map[string]string{"GREETING": "hello", "RESTART_COUNT": "0", "POD_LOG_PATH": logDir + "/web/0.log"} {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}

	// The kubelet's next attempt: the old container exited but still exists,
	// the new one carries restartCount 1 and logs to web/1.log.
	if err := s.StopContainer(id, 0); err != nil {
		t.Fatal(err)
	}
	_, ctr1 := generate(t, s, manifest, "web", 1)
	kubeletFiles(t, s, ctr1)
	id1, err := s.RunContainer(podID, ctr1, pod)
	if err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	wantAnnotations(t, inspect(t, s, id1), map[string]string{
		"io.kubernetes.container.restartCount": "1",
		"specguard.io/restart-count":           "1",
		"specguard.io/log-path":                logDir + "/web/1.log",
	})
}

// generate runs `specguard generate` for one container of a Pod manifest,
// telling it about this node as the kubelet knows it: cgroup version,
// cgroupfs, memory capacity, and a kubelet root directory inside the stack.
func generate(t *testing.T, s *harness.Stack, manifest, container string, restartCount int) (pod, ctr map[string]any) {
	t.Helper()
	cmd := exec.Command(suite.tools.Specguard, "generate", "--pod", manifest, "--container", container,
		"--restart-count", strconv.Itoa(restartCount), "-o", "json",
		"--cgroup-version", strconv.Itoa(harness.CgroupVersion()), "--cgroup-driver", "cgroupfs",
		"--node-memory", strconv.FormatInt(memTotal(t), 10), "--kubelet-root-dir", filepath.Join(s.Dir, "kubelet"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("`specguard generate --pod %s --container %s --restart-count %d -o json` failed (%v): %s\n"+
			"(this scenario needs specguard generate)", manifest, container, restartCount, err, strings.TrimSpace(stderr.String()))
	}
	var out struct {
		PodSandboxConfig map[string]any `json:"podSandboxConfig"`
		ContainerConfig  map[string]any `json:"containerConfig"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("specguard generate printed no {podSandboxConfig, containerConfig} JSON: %v\n%s", err, stdout.String())
	}
	if out.PodSandboxConfig == nil || out.ContainerConfig == nil {
		t.Fatalf("specguard generate: podSandboxConfig or containerConfig missing:\n%s", stdout.String())
	}
	return out.PodSandboxConfig, out.ContainerConfig
}

// relocate points a generated sandbox config at the stack: its pod logs
// directory instead of /var/log/pods, and its cgroup parent instead of the
// kubelet's kubepods hierarchy (so cleanup finds it).
func relocate(s *harness.Stack, pod map[string]any) {
	if dir, ok := pod["log_directory"].(string); ok {
		pod["log_directory"] = filepath.Join(s.PodLogsDir(), filepath.Base(dir))
	}
	linux, _ := pod["linux"].(map[string]any)
	if linux == nil {
		linux = map[string]any{}
		pod["linux"] = linux
	}
	linux["cgroup_parent"] = s.CgroupParent
}

// kubeletFiles creates the host files the kubelet prepares before it
// creates a container (etc-hosts, the termination-log file) for every bind
// mount of the config whose host path is missing; containerd would create
// directories in their place. Host paths outside the stack are refused: the
// test must not write to the node.
func kubeletFiles(t *testing.T, s *harness.Stack, ctr map[string]any) {
	t.Helper()
	mounts, _ := ctr["mounts"].([]any)
	for _, m := range mounts {
		hostPath, _ := lookup(m.(map[string]any), "host_path").(string)
		if hostPath == "" {
			continue
		}
		if _, err := os.Stat(hostPath); err == nil {
			continue
		}
		if !strings.HasPrefix(hostPath, s.Dir+"/") {
			t.Fatalf("generated mount of missing host path %s outside the stack directory %s", hostPath, s.Dir)
		}
		if err := os.MkdirAll(filepath.Dir(hostPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(hostPath, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// memTotal is the node's memory capacity as the kubelet reads it.
func memTotal(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb * 1024
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

// lookup walks nested JSON objects; nil when a key is missing.
func lookup(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[k]
	}
	return v
}

// ownOOMScoreAdj is this process's oom_score_adj, which containerd (started
// by it) inherits and which restrict_oom_score_adj uses as the floor.
func ownOOMScoreAdj(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
