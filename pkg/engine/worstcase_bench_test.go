package engine_test

import (
	"fmt"
	"testing"

	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/policy"
)

const worstPolicy = `apiVersion: specguard.io/v1alpha1
kind: Policy
spec:
  mode: enforce
  failurePolicy: ignore
  node: {podLogsDir: /var/log/pods}
  metadata: {restartCount: true, logPath: true, identity: true, qosClass: true}
  rules:
    - name: downward-api
      env:
        - {name: RESTART_COUNT, value: "{{ .RestartCount }}"}
        - {name: POD_LOG_PATH, value: "{{ .LogPath }}"}
        - {name: NODE_NAME, value: "{{ .Node.Name }}"}
    - name: safety-net
      match: {namespaces: ["team-*"]}
      security:
        hostNamespaces: deny
        hostPaths:
          deny: ["/etc/**", "/proc/**", "/sys/**", "/var/run/**", "/root/**", "/boot/**"]
          allow: ["/data/**", "/srv/*/cache", "/opt/**/share"]
        devices: deny
        sysctls: {}
`

// worstRequest is a container with env variables, binds of denied host
// paths, device nodes and device cgroup rules that are not allowed, and
// sysctls outside the safe set, so that every item fails a check.
func worstRequest(env, binds, devices, deviceRules, sysctls int) (*api.PodSandbox, *api.Container) {
	pod := &api.PodSandbox{Id: "sb0", Name: "big", Namespace: "team-a", Uid: "5f0c9a2e-0000-4000-8000-000000000001",
		Linux: &api.LinuxPodSandbox{Namespaces: []*api.LinuxNamespace{{Type: "pid"}, {Type: "ipc"}, {Type: "uts"}, {Type: "network", Path: "/var/run/netns/cni-1"}}}}
	c := &api.Container{Id: "c0", PodSandboxId: "sb0", Name: "app", User: &api.User{Uid: 1000},
		Linux: &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "pid"}, {Type: "mount"},
			{Type: "ipc", Path: "/proc/42/ns/ipc"}, {Type: "network", Path: "/proc/42/ns/net"}},
			Sysctl: make(map[string]string, sysctls), Resources: &api.LinuxResources{}}}
	c.Env = make([]string, 0, env)
	for i := range env {
		c.Env = append(c.Env, fmt.Sprintf("E%d=", i))
	}
	src := "/etc/./x%d/"
	if binds < 0 { // binds of allowed paths
		binds, src = -binds, "/data/a/b/c/d/e/f/g/h/x%d"
	}
	c.Mounts = make([]*api.Mount, 0, binds)
	for i := range binds {
		c.Mounts = append(c.Mounts, &api.Mount{Destination: fmt.Sprintf("/m/%d", i), Source: fmt.Sprintf(src, i),
			Type: "bind", Options: []string{"rbind", "ro"}})
	}
	for i := range devices {
		c.Linux.Devices = append(c.Linux.Devices, &api.LinuxDevice{Path: fmt.Sprintf("/dev/d%d", i), Type: "b", Major: 8, Minor: int64(i)})
	}
	for i := range deviceRules {
		c.Linux.Resources.Devices = append(c.Linux.Resources.Devices, &api.LinuxDeviceCgroup{Allow: true, Type: "c",
			Major: &api.OptionalInt64{Value: 200}, Minor: &api.OptionalInt64{Value: int64(i)}, Access: "rw"})
	}
	for i := range sysctls {
		c.Linux.Sysctl[fmt.Sprintf("kernel.x%d", i)] = "1"
	}
	return pod, c
}

func worstPolicyParsed(tb testing.TB) *policy.Policy {
	pol, err := policy.Parse("worst", []byte(worstPolicy))
	if err != nil {
		tb.Fatal(err)
	}
	return pol
}

// BenchmarkDecideWorstCase decides on the largest container specguard
// checks: every list at engine.DefaultLimits, every item failing a check.
// Past the limits ("beyond") is a container the size the API server's
// etcd limit allows, about 220,000 environment variables (and 20,000
// binds): refused without running the rules. "issue-17" is the pod of
// issue 17: 5,000 environment variables and 1,500 denied binds. The figures are in docs/performance.md.
func BenchmarkDecideWorstCase(b *testing.B) {
	l := engine.DefaultLimits
	for name, n := range map[string][5]int{
		"issue-17":  {5000, 1500, 0, 0, 0},
		"at-limits": {l.Env, l.Mounts, l.Devices, l.DeviceRules, l.Sysctls},
		"beyond":    {220000, 20000, 0, 0, 0},
		// Binds that pass every deny pattern: each is matched against all
		// of them, and against the allow list, before it is admitted.
		"allowed-binds": {0, -l.Mounts, 0, 0, 0},
	} {
		b.Run(name, func(b *testing.B) {
			pol := worstPolicyParsed(b)
			pod, c := worstRequest(n[0], n[1], n[2], n[3], n[4])
			req := &engine.Request{Pod: pod, Container: c}
			b.ReportAllocs()
			for b.Loop() {
				if d := engine.Decide(pol, req); d.Allowed != (name == "allowed-binds") {
					b.Fatalf("allowed=%v: %.300s", d.Allowed, d.Reason)
				}
			}
		})
	}
}
