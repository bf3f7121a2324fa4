package criview

import (
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestContainerViewFollowsContainerd(t *testing.T) {
	sb := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "web-0", Namespace: "shop", Uid: "u1"},
		Labels:       map[string]string{"app": "web"},
		Annotations:  map[string]string{"team": "blue"},
		LogDirectory: "/var/log/pods/shop_web-0_u1",
		Linux:        &runtimeapi.LinuxPodSandboxConfig{Sysctls: map[string]string{"net.ipv4.tcp_syncookies": "1"}},
	}
	c := &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: "app", Attempt: 2},
		Image:       &runtimeapi.ImageSpec{Image: "registry.example/app:1"},
		Command:     []string{"/bin/app"},
		Args:        []string{"--port", "80"},
		Envs:        []*runtimeapi.KeyValue{{Key: "A", Value: []byte("1")}},
		Annotations: map[string]string{"io.kubernetes.container.restartCount": "2"},
		Mounts:      []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: "/srv/data", Readonly: true}},
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources: &runtimeapi.LinuxContainerResources{CpuShares: 1024, CpuQuota: 100000, CpuPeriod: 100000, MemoryLimitInBytes: 1 << 30, OomScoreAdj: -997},
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				RunAsUser:        &runtimeapi.Int64Value{Value: 1000},
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_CONTAINER},
				Seccomp:          &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
			},
		},
	}
	pod, ctr := Pod(sb, "runc"), Container(sb, c)
	if pod.Annotations["io.kubernetes.cri.sandbox-log-directory"] != sb.LogDirectory || pod.Namespace != "shop" || pod.RuntimeHandler != "runc" {
		t.Errorf("pod = %v", pod)
	}
	if ctr.Annotations["io.kubernetes.container.restartCount"] != "2" || ctr.Annotations["io.kubernetes.cri.image-name"] != "registry.example/app:1" {
		t.Errorf("annotations = %v", ctr.Annotations)
	}
	if len(ctr.Args) != 3 || ctr.Env[0] != "A=1" || ctr.User.Uid != 1000 {
		t.Errorf("args/env/user = %v %v %v", ctr.Args, ctr.Env, ctr.User)
	}
	if m := ctr.Mounts[0]; m.Source != "/srv/data" || m.Type != "bind" || m.Options[1] != "ro" {
		t.Errorf("mount = %v", m)
	}
	r := ctr.Linux.Resources
	if r.Cpu.Shares.GetValue() != 1024 || r.Memory.Limit.GetValue() != 1<<30 || ctr.Linux.OomScoreAdj.GetValue() != -997 {
		t.Errorf("resources = %v", r)
	}
	types := map[string]string{}
	for _, ns := range ctr.Linux.Namespaces {
		types[ns.Type] = ns.Path
	}
	if _, ok := types["network"]; ok {
		t.Error("host network: the network namespace must be left out")
	}
	if p, ok := types["pid"]; !ok || p != "" {
		t.Errorf("container pid namespace = %q, %v", p, ok)
	}
	if p := types["ipc"]; p == "" {
		t.Error("pod ipc namespace must join the sandbox's")
	}
	if ctr.Linux.SeccompProfile.ProfileType.String() != "RUNTIME_DEFAULT" || ctr.Linux.Sysctl["net.ipv4.tcp_syncookies"] != "1" {
		t.Errorf("seccomp/sysctl = %v %v", ctr.Linux.SeccompProfile, ctr.Linux.Sysctl)
	}
}
