package podgen

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/specguard/specguard/pkg/kubelet"
)

func boolPtr(b bool) *bool    { return &b }
func strPtr(s string) *string { return &s }

func basePod() *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1"},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "img"}}},
	}
}

func gen(t *testing.T, pod *v1.Pod, opts GenerateOptions) *GeneratedConfigs {
	t.Helper()
	if opts.RestartCount == nil {
		opts.RestartCount = intPtr(0)
	}
	out, err := GenerateConfigs(pod, opts)
	if err != nil {
		t.Fatalf("GenerateConfigs: %v", err)
	}
	return out
}

func TestVerifyRunAsNonRoot(t *testing.T) {
	root, user := int64(0), int64(1000)
	cases := map[string]struct {
		pod   *v1.PodSecurityContext
		ctr   *v1.SecurityContext
		uid   *int64
		name  string
		wantE string
	}{
		"not requested":          {uid: &root},
		"explicitly false":       {ctr: &v1.SecurityContext{RunAsNonRoot: boolPtr(false)}, uid: &root},
		"runAsUser 0":            {ctr: &v1.SecurityContext{RunAsNonRoot: boolPtr(true), RunAsUser: &root}, wantE: `container's runAsUser breaks non-root policy (pod: "p_ns(uid-1)", container: c)`},
		"runAsUser 1000":         {ctr: &v1.SecurityContext{RunAsNonRoot: boolPtr(true), RunAsUser: &user}, uid: &root},
		"pod-level runAsNonRoot": {pod: &v1.PodSecurityContext{RunAsNonRoot: boolPtr(true)}, uid: &root, wantE: `container has runAsNonRoot and image will run as root (pod: "p_ns(uid-1)", container: c)`},
		"container overrides pod": {pod: &v1.PodSecurityContext{RunAsNonRoot: boolPtr(true)},
			ctr: &v1.SecurityContext{RunAsNonRoot: boolPtr(false)}, uid: &root},
		"pod runAsUser counts": {pod: &v1.PodSecurityContext{RunAsNonRoot: boolPtr(true), RunAsUser: &user}, uid: &root},
		"image user name":      {ctr: &v1.SecurityContext{RunAsNonRoot: boolPtr(true)}, name: "app", wantE: `container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root (pod: "p_ns(uid-1)", container: c)`},
		"image uid 1000":       {ctr: &v1.SecurityContext{RunAsNonRoot: boolPtr(true)}, uid: &user},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pod := basePod()
			pod.Spec.SecurityContext = tc.pod
			pod.Spec.Containers[0].SecurityContext = tc.ctr
			err := VerifyRunAsNonRoot(pod, &pod.Spec.Containers[0], tc.uid, tc.name)
			if tc.wantE == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantE) || !errors.Is(err, ErrRunAsNonRoot) {
				t.Fatalf("error = %v, want %q", err, tc.wantE)
			}
		})
	}
}

func TestGenerateRunAsNonRootRefused(t *testing.T) {
	pod := basePod()
	pod.Spec.SecurityContext = &v1.PodSecurityContext{RunAsNonRoot: boolPtr(true)}
	_, err := GenerateConfigs(pod, GenerateOptions{RestartCount: intPtr(0), ImageUser: ParseImageUser("")})
	if !errors.Is(err, ErrCreateContainerConfig) || !errors.Is(err, ErrRunAsNonRoot) {
		t.Fatalf("want a CreateContainerConfigError for a root image, got %v", err)
	}
	out := gen(t, pod, GenerateOptions{ImageUser: ParseImageUser("1001:1001")})
	if got := out.ContainerConfig.Linux.SecurityContext.RunAsUser.GetValue(); got != 1001 {
		t.Errorf("run_as_user from the image = %d, want 1001", got)
	}
	out = gen(t, pod, GenerateOptions{})
	if out.ContainerConfig.Linux.SecurityContext.RunAsUser != nil {
		t.Error("unknown image user must leave run_as_user unset")
	}
}

func TestParseImageUser(t *testing.T) {
	cases := map[string]struct {
		in   string
		uid  int64
		name string
	}{
		"none is root": {"", 0, ""},
		"numeric":      {"1000", 1000, ""},
		"uid:gid":      {"1000:50", 1000, ""},
		"name":         {"nginx", -1, "nginx"},
		"name:group":   {"app:app", -1, "app"},
	}
	for n, tc := range cases {
		t.Run(n, func(t *testing.T) {
			u := ParseImageUser(tc.in)
			if !u.Known || u.Name != tc.name || (tc.uid >= 0) != (u.UID != nil) || (u.UID != nil && *u.UID != tc.uid) {
				t.Errorf("ParseImageUser(%q) = %+v", tc.in, u)
			}
		})
	}
}

func TestSeccompProfile(t *testing.T) {
	cases := map[string]struct {
		pod, ctr       *v1.SeccompProfile
		seccompDefault bool
		want           *runtimeapi.SecurityProfile
		wantErr        bool
	}{
		"unset":                  {want: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}},
		"unset, seccompDefault":  {seccompDefault: true, want: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}},
		"pod field":              {pod: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}, want: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}},
		"container beats pod":    {pod: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}, ctr: &v1.SeccompProfile{Type: v1.SeccompProfileTypeUnconfined}, want: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}},
		"localhost":              {ctr: &v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost, LocalhostProfile: strPtr("a/b.json")}, want: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "/var/lib/kubelet/seccomp/a/b.json"}},
		"localhost without name": {ctr: &v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost}, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pod := basePod()
			pod.Spec.SecurityContext = &v1.PodSecurityContext{SeccompProfile: tc.pod}
			if tc.ctr != nil {
				pod.Spec.Containers[0].SecurityContext = &v1.SecurityContext{SeccompProfile: tc.ctr}
			}
			got, err := SeccompProfile(pod, &pod.Spec.Containers[0], tc.seccompDefault, "")
			if tc.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil || got.ProfileType != tc.want.ProfileType || got.LocalhostRef != tc.want.LocalhostRef {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestAppArmorProfile(t *testing.T) {
	cases := map[string]struct {
		ann      string
		pod, ctr *v1.AppArmorProfile
		wantType runtimeapi.SecurityProfile_ProfileType
		wantRef  string
		wantOld  string
		none     bool
	}{
		"none":                 {none: true},
		"pod field":            {pod: &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeUnconfined}, wantType: runtimeapi.SecurityProfile_Unconfined, wantOld: "unconfined"},
		"annotation beats pod": {ann: "localhost/x", pod: &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeUnconfined}, wantType: runtimeapi.SecurityProfile_Localhost, wantRef: "x", wantOld: "localhost/x"},
		"container beats all":  {ann: "unconfined", ctr: &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeRuntimeDefault}, wantType: runtimeapi.SecurityProfile_RuntimeDefault, wantOld: "runtime/default"},
		"bad annotation falls through": {ann: "weird", pod: &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeRuntimeDefault},
			wantType: runtimeapi.SecurityProfile_RuntimeDefault, wantOld: "runtime/default"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pod := basePod()
			if tc.ann != "" {
				pod.Annotations = map[string]string{AppArmorAnnotationPrefix + "c": tc.ann}
			}
			pod.Spec.SecurityContext = &v1.PodSecurityContext{AppArmorProfile: tc.pod}
			if tc.ctr != nil {
				pod.Spec.Containers[0].SecurityContext = &v1.SecurityContext{AppArmorProfile: tc.ctr}
			}
			got, old, err := AppArmorProfile(pod, &pod.Spec.Containers[0])
			if err != nil {
				t.Fatal(err)
			}
			if tc.none {
				if got != nil || old != "" {
					t.Errorf("want none, got %v %q", got, old)
				}
				return
			}
			if got.GetProfileType() != tc.wantType || got.GetLocalhostRef() != tc.wantRef || old != tc.wantOld {
				t.Errorf("got %v %q", got, old)
			}
		})
	}
}

func TestNamespaceOptions(t *testing.T) {
	cases := map[string]struct {
		spec                      v1.PodSpec
		network, pid, ipc, userns runtimeapi.NamespaceMode
	}{
		"defaults":      {network: runtimeapi.NamespaceMode_POD, pid: runtimeapi.NamespaceMode_CONTAINER, ipc: runtimeapi.NamespaceMode_POD, userns: runtimeapi.NamespaceMode_NODE},
		"host all":      {spec: v1.PodSpec{HostNetwork: true, HostPID: true, HostIPC: true}, network: runtimeapi.NamespaceMode_NODE, pid: runtimeapi.NamespaceMode_NODE, ipc: runtimeapi.NamespaceMode_NODE, userns: runtimeapi.NamespaceMode_NODE},
		"shared pid":    {spec: v1.PodSpec{ShareProcessNamespace: boolPtr(true)}, pid: runtimeapi.NamespaceMode_POD, userns: runtimeapi.NamespaceMode_NODE},
		"hostPID wins":  {spec: v1.PodSpec{HostPID: true, ShareProcessNamespace: boolPtr(true)}, pid: runtimeapi.NamespaceMode_NODE, userns: runtimeapi.NamespaceMode_NODE},
		"no host users": {spec: v1.PodSpec{HostUsers: boolPtr(false)}, pid: runtimeapi.NamespaceMode_CONTAINER, userns: runtimeapi.NamespaceMode_POD},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ns := NamespaceOptions(&v1.Pod{Spec: tc.spec})
			if ns.Network != tc.network || ns.Pid != tc.pid || ns.Ipc != tc.ipc || ns.UsernsOptions.Mode != tc.userns {
				t.Errorf("got %v", ns)
			}
		})
	}
}

func TestCgroupParent(t *testing.T) {
	cases := map[string]struct {
		qos    kubelet.QOSClass
		driver string
		want   string
	}{
		"guaranteed systemd":  {kubelet.QOSGuaranteed, CgroupDriverSystemd, "/kubepods.slice/kubepods-pod1_2.slice"},
		"burstable systemd":   {kubelet.QOSBurstable, "", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1_2.slice"},
		"besteffort cgroupfs": {kubelet.QOSBestEffort, CgroupDriverCgroupfs, "/kubepods/besteffort/pod1-2"},
		"guaranteed cgroupfs": {kubelet.QOSGuaranteed, CgroupDriverCgroupfs, "/kubepods/pod1-2"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := CgroupParent(tc.qos, "1-2", tc.driver); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHugePageUnitSize(t *testing.T) {
	cases := map[int64]string{2 << 20: "2MB", 1 << 30: "1GB", 64 << 10: "64KB", 32 << 20: "32MB", 16 << 30: "16GB"}
	for in, want := range cases {
		if got, ok := HugePageUnitSize(in); !ok || got != want {
			t.Errorf("HugePageUnitSize(%d) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []int64{0, -1, 1000} {
		if _, ok := HugePageUnitSize(bad); ok {
			t.Errorf("HugePageUnitSize(%d) should fail", bad)
		}
	}
}

func TestHugepageLimits(t *testing.T) {
	pod := basePod()
	pod.Spec.Resources = &v1.ResourceRequirements{Limits: rl("hugepages-1Gi", "2Gi", "hugepages-2Mi", "4Mi")}
	got := HugepageLimits(pod, v1.ResourceRequirements{Limits: rl("hugepages-2Mi", "8Mi", "cpu", "1")}, []string{"1GB", "2MB", "64KB"})
	want := map[string]uint64{"1GB": 2 << 30, "2MB": 8 << 20, "64KB": 0}
	if len(got) != 3 {
		t.Fatalf("got %v", got)
	}
	for _, h := range got {
		if h.Limit != want[h.PageSize] {
			t.Errorf("%s: %d, want %d", h.PageSize, h.Limit, want[h.PageSize])
		}
	}
}

func TestContainerOOMScoreAdjSidecar(t *testing.T) {
	always := v1.ContainerRestartPolicyAlways
	mk := func(sidecarReq, appReq string) *v1.Pod {
		p := basePod()
		p.Spec.Containers[0].Resources.Requests = rl("memory", appReq)
		sc := v1.Container{Name: "sc", RestartPolicy: &always}
		if sidecarReq != "" {
			sc.Resources.Requests = rl("memory", sidecarReq)
		}
		p.Spec.InitContainers = []v1.Container{sc}
		return p
	}
	withPodRequest := func(p *v1.Pod, mem string) *v1.Pod {
		p.Spec.InitContainers = append([]v1.Container{{Name: "setup", Resources: v1.ResourceRequirements{Requests: rl("memory", "128Mi")}}},
			p.Spec.InitContainers...)
		p.Spec.Resources = &v1.ResourceRequirements{Requests: rl("memory", mem)}
		return p
	}
	capacity := int64(16 << 30)
	// kubelet 1.37 (pkg/kubelet/qos/policy.go): the lower of the sidecar's
	// own score and the score of the smallest regular request; no default
	// request, no +1.
	cases := map[string]struct {
		pod  *v1.Pod
		idx  int
		want int
	}{
		// own 64Mi -> 997; app 256Mi -> 985: 985.
		"sidecar smallest": {mk("64Mi", "256Mi"), 0, 985},
		// own 1Gi -> 938 is already lower than 985.
		"app smallest": {mk("1Gi", "256Mi"), 0, 938},
		// no request: own 1000 (not capped before the comparison); app 985.
		"sidecar without request": {mk("", "256Mi"), 0, 985},
		"equal":                   {mk("256Mi", "256Mi"), 0, 985},
		// app without request: 1000 for both, then capped at 999.
		"no requests but a limit elsewhere": {func() *v1.Pod {
			p := mk("", "64Mi")
			p.Spec.Containers[0].Resources.Requests = nil
			p.Spec.Containers[0].Resources.Limits = rl("cpu", "1")
			return p
		}(), 0, 999},
		// Pod-level request 1Gi: containers request max(app 256Mi + sc 64Mi,
		// setup 128Mi) = 320Mi, so each of the 3 containers gets
		// (1024Mi-320Mi)/3 = 246065834 bytes more: setup 128Mi+share -> 978;
		// sc 64Mi+share -> 982, but app 256Mi+share -> 971 wins.
		"pod-level request, init":    {withPodRequest(mk("64Mi", "256Mi"), "1Gi"), 0, 978},
		"pod-level request, sidecar": {withPodRequest(mk("64Mi", "256Mi"), "1Gi"), 1, 971},
		// Containers request more than the pod: no share.
		"pod-level request below containers": {withPodRequest(mk("64Mi", "256Mi"), "100Mi"), 1, 985},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := ContainerOOMScoreAdj(tc.pod, &tc.pod.Spec.InitContainers[tc.idx], capacity); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPodRequestsWithInitAndSidecars(t *testing.T) {
	always := v1.ContainerRestartPolicyAlways
	pod := basePod()
	pod.Spec.Containers[0].Resources.Requests = rl("cpu", "100m", "memory", "100Mi")
	pod.Spec.InitContainers = []v1.Container{
		{Name: "sc", RestartPolicy: &always, Resources: v1.ResourceRequirements{Requests: rl("cpu", "50m", "memory", "50Mi")}},
		{Name: "init", Resources: v1.ResourceRequirements{Requests: rl("cpu", "500m", "memory", "10Mi")}},
	}
	got := PodRequests(pod)
	// cpu: max(100m + 50m, 500m + 50m) = 550m; memory: max(150Mi, 60Mi) = 150Mi.
	if c := got[v1.ResourceCPU]; c.MilliValue() != 550 {
		t.Errorf("cpu = %s", c.String())
	}
	if m := got[v1.ResourceMemory]; m.Value() != 150<<20 {
		t.Errorf("memory = %s", m.String())
	}
	pod.Spec.Resources = &v1.ResourceRequirements{Requests: rl("cpu", "2")}
	if c := PodRequests(pod)[v1.ResourceCPU]; c.MilliValue() != 2000 {
		t.Errorf("pod-level cpu = %s", c.String())
	}
}

func TestPodLevelLimitsFillContainer(t *testing.T) {
	pod := basePod()
	pod.Spec.Resources = &v1.ResourceRequirements{Limits: rl("cpu", "2", "memory", "1Gi")}
	out := gen(t, pod, GenerateOptions{})
	r := out.ContainerConfig.Linux.Resources
	if r.CpuQuota != 200000 || r.MemoryLimitInBytes != 1<<30 {
		t.Errorf("container inherits pod-level limits: quota %d, memory %d", r.CpuQuota, r.MemoryLimitInBytes)
	}
	if out.QOSClass != kubelet.QOSGuaranteed {
		t.Errorf("pod-level requests default from limits -> Guaranteed, got %s", out.QOSClass)
	}
}

func TestCgroupV1AndSingleProcessOOMKill(t *testing.T) {
	pod := basePod()
	pod.Spec.Containers[0].Resources.Limits = rl("memory", "1Gi")
	out := gen(t, pod, GenerateOptions{Node: NodeConfig{CgroupVersion: 1}})
	r := out.ContainerConfig.Linux.Resources
	if r.Unified != nil || r.MemorySwapLimitInBytes != 1<<30 {
		t.Errorf("cgroup v1: unified %v, swap limit %d", r.Unified, r.MemorySwapLimitInBytes)
	}
	out = gen(t, pod, GenerateOptions{Node: NodeConfig{SingleProcessOOMKill: true}})
	if _, ok := out.ContainerConfig.Linux.Resources.Unified[UnifiedMemoryOOMGroup]; ok {
		t.Error("singleProcessOOMKill must not set memory.oom.group")
	}
}

func TestHostname(t *testing.T) {
	long := strings.Repeat("a", 62) + "-b" + strings.Repeat("c", 10)
	cases := map[string]struct {
		name, hostname, subdomain string
		fqdn                      bool
		want                      string
		wantErr                   bool
	}{
		"pod name":           {name: "web", want: "web"},
		"spec hostname":      {name: "web", hostname: "h", want: "h"},
		"truncated":          {name: long, want: strings.Repeat("a", 62)},
		"subdomain, no fqdn": {name: "w", subdomain: "s", want: "w"},
		"fqdn":               {name: "w", subdomain: "s", fqdn: true, want: "w.s.ns.svc.cluster.local"},
		"fqdn too long":      {name: strings.Repeat("x", 60), subdomain: "s", fqdn: true, wantErr: true},
		"bad hostname":       {name: "w", hostname: "Not_Valid", wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pod := basePod()
			pod.Name, pod.Spec.Hostname, pod.Spec.Subdomain = tc.name, tc.hostname, tc.subdomain
			pod.Spec.SetHostnameAsFQDN = &tc.fqdn
			out, err := GenerateConfigs(pod, GenerateOptions{RestartCount: intPtr(0)})
			if tc.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := out.PodSandboxConfig.Hostname; got != tc.want {
				t.Errorf("hostname %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDNSConfig(t *testing.T) {
	host := &runtimeapi.DNSConfig{Servers: []string{"192.168.0.2"}, Searches: []string{"corp"}, Options: []string{"ndots:1", "rotate"}}
	cases := map[string]struct {
		policy      v1.DNSPolicy
		hostNetwork bool
		clusterDNS  []string
		dnsConfig   *v1.PodDNSConfig
		want        *runtimeapi.DNSConfig
	}{
		"cluster first": {clusterDNS: []string{"10.96.0.10"},
			want: &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"ns.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp"}, Options: []string{"ndots:5"}}},
		"cluster first on host network": {hostNetwork: true, clusterDNS: []string{"10.96.0.10"}, want: host},
		"no cluster dns falls back":     {want: host},
		"default":                       {policy: v1.DNSDefault, clusterDNS: []string{"10.96.0.10"}, want: host},
		"none with config": {policy: v1.DNSNone, dnsConfig: &v1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: strPtr("3")}}},
			want: &runtimeapi.DNSConfig{Servers: []string{"1.1.1.1"}, Searches: []string{}, Options: []string{"ndots:3"}}},
		"config merged": {policy: v1.DNSDefault, dnsConfig: &v1.PodDNSConfig{Nameservers: []string{"192.168.0.2", "9.9.9.9"}, Searches: []string{"x"}, Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: strPtr("2")}, {Name: "edns0"}}},
			want: &runtimeapi.DNSConfig{Servers: []string{"192.168.0.2", "9.9.9.9"}, Searches: []string{"corp", "x"}, Options: []string{"ndots:2", "rotate", "edns0"}}},
		"too many servers": {policy: v1.DNSNone, dnsConfig: &v1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"}},
			want: &runtimeapi.DNSConfig{Servers: []string{"1.1.1.1", "2.2.2.2", "3.3.3.3"}, Searches: []string{}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pod := basePod()
			pod.Spec.DNSPolicy, pod.Spec.HostNetwork, pod.Spec.DNSConfig = tc.policy, tc.hostNetwork, tc.dnsConfig
			out := gen(t, pod, GenerateOptions{Node: NodeConfig{ClusterDNS: tc.clusterDNS, HostDNS: host}})
			got := out.PodSandboxConfig.DnsConfig
			if strings.Join(got.Servers, ",") != strings.Join(tc.want.Servers, ",") ||
				strings.Join(got.Searches, ",") != strings.Join(tc.want.Searches, ",") ||
				strings.Join(got.Options, ",") != strings.Join(tc.want.Options, ",") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseResolvConf(t *testing.T) {
	in := "# comment\nnameserver 10.0.0.1\nnameserver 10.0.0.2 ; x\nsearch old.example\nsearch a.example. . b.example\noptions ndots:2\noptions timeout:1 ndots:3\n"
	got, err := ParseResolvConf(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Servers, " ") != "10.0.0.1 10.0.0.2" || strings.Join(got.Searches, " ") != "a.example b.example" || strings.Join(got.Options, " ") != "ndots:3 timeout:1" {
		t.Errorf("got %v", got)
	}
}

func TestGenerateErrors(t *testing.T) {
	cases := map[string]struct {
		mutate func(*v1.Pod)
		opts   GenerateOptions
		want   string
	}{
		"no name":           {mutate: func(p *v1.Pod) { p.Name = "" }, want: "metadata.name: required"},
		"no containers":     {mutate: func(p *v1.Pod) { p.Spec.Containers = nil }, want: "at least one container"},
		"duplicate names":   {mutate: func(p *v1.Pod) { p.Spec.InitContainers = []v1.Container{{Name: "c"}} }, want: `"c" already used`},
		"unknown container": {opts: GenerateOptions{Container: "nope"}, want: `container "nope" not found in pod ns/p (containers: c)`},
		"negative restarts": {opts: GenerateOptions{RestartCount: intPtr(-1)}, want: "restart count -1 out of range"},
		"bad fieldPath": {mutate: func(p *v1.Pod) {
			p.Spec.Containers[0].Env = []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.bogus"}}}}
		}, want: "spec.containers[0].env[0].valueFrom.fieldRef: unsupported fieldPath: spec.bogus"},
		"bad subscript": {mutate: func(p *v1.Pod) {
			p.Spec.Containers[0].Env = []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name['x']"}}}}
		}, want: "does not support subscript"},
		"bad resource field": {mutate: func(p *v1.Pod) {
			p.Spec.Containers[0].Env = []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.gpu"}}}}
		}, want: "unsupported container resource"},
		"resource of missing container": {mutate: func(p *v1.Pod) {
			p.Spec.Containers[0].Env = []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{ContainerName: "z", Resource: "limits.cpu"}}}}
		}, want: `container "z" not found`},
		"missing volume": {mutate: func(p *v1.Pod) { p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "v", MountPath: "/v"}} }, want: `no volume "v"`},
		"bad stop signal": {mutate: func(p *v1.Pod) {
			s := v1.Signal("SIGBOGUS")
			p.Spec.Containers[0].Lifecycle = &v1.Lifecycle{StopSignal: &s}
		}, opts: GenerateOptions{Node: NodeConfig{FeatureGates: map[string]bool{FeatureContainerStopSignals: true}}}, want: "unsupported signal"},
		"apparmor no name": {mutate: func(p *v1.Pod) {
			p.Spec.SecurityContext = &v1.PodSecurityContext{AppArmorProfile: &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeLocalhost}}
		}, want: "missing localhost apparmor profile name"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pod := basePod()
			if tc.mutate != nil {
				tc.mutate(pod)
			}
			if tc.opts.RestartCount == nil {
				tc.opts.RestartCount = intPtr(0)
			}
			_, err := GenerateConfigs(pod, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := GenerateConfigs(nil, GenerateOptions{}); err == nil {
		t.Error("nil pod must be an error")
	}
}

func TestDefaultContainerSelection(t *testing.T) {
	pod := basePod()
	pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{Name: "second", Image: "i"})
	if out := gen(t, pod, GenerateOptions{}); out.ContainerName != "c" {
		t.Errorf("default is the first container, got %s", out.ContainerName)
	}
	pod.Annotations = map[string]string{DefaultContainerAnnotation: "second"}
	if out := gen(t, pod, GenerateOptions{}); out.ContainerName != "second" {
		t.Errorf("default-container annotation, got %s", out.ContainerName)
	}
}

func TestEphemeralContainer(t *testing.T) {
	pod := basePod()
	pod.Spec.EphemeralContainers = []v1.EphemeralContainer{{
		EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: "debugger", Image: "busybox"},
		TargetContainerName:      "c",
	}}
	out := gen(t, pod, GenerateOptions{Container: "debugger"})
	if out.ContainerKind != KindEphemeral || out.ContainerConfig.Linux.SecurityContext.NamespaceOptions.Pid != runtimeapi.NamespaceMode_TARGET {
		t.Errorf("kind %s, pid %v", out.ContainerKind, out.ContainerConfig.Linux.SecurityContext.NamespaceOptions.Pid)
	}
}

func TestStopSignal(t *testing.T) {
	pod := basePod()
	s := v1.Signal("SIGRTMIN+1")
	pod.Spec.Containers[0].Lifecycle = &v1.Lifecycle{StopSignal: &s}
	// ContainerStopSignals is alpha and off in v1.37.2: no signal.
	if got := gen(t, pod, GenerateOptions{}).ContainerConfig.StopSignal; got != runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT {
		t.Errorf("gate off by default: stop signal %v", got)
	}
	on := GenerateOptions{Node: NodeConfig{FeatureGates: map[string]bool{FeatureContainerStopSignals: true}}}
	if got := gen(t, pod, on).ContainerConfig.StopSignal; got != runtimeapi.Signal_SIGNAL_SIGRTMINPLUS1 {
		t.Errorf("gate on: stop signal %v", got)
	}
}

func TestMemoryQoSGate(t *testing.T) {
	unified := func(opts GenerateOptions) map[string]string {
		return gen(t, basePod(), opts).ContainerConfig.Linux.Resources.Unified
	}
	// On by default in v1.37.2: memoryReservationPolicy None writes both as 0.
	if u := unified(GenerateOptions{}); u[UnifiedMemoryMin] != "0" || u[UnifiedMemoryLow] != "0" || u[UnifiedMemoryHigh] != "" {
		t.Errorf("default: %v", u)
	}
	off := GenerateOptions{Node: NodeConfig{FeatureGates: map[string]bool{FeatureMemoryQoS: false}}}
	if u := unified(off); u[UnifiedMemoryHigh] != "max" || u[UnifiedMemoryMin] != "" || u[UnifiedMemoryLow] != "" {
		t.Errorf("MemoryQoS=false: %v", u)
	}
	// cgroup v1: neither.
	v1node := GenerateOptions{Node: NodeConfig{CgroupVersion: 1}}
	if u := unified(v1node); len(u) != 0 {
		t.Errorf("cgroup v1: %v", u)
	}
}

func TestParseFeatureGates(t *testing.T) {
	got, err := ParseFeatureGates("MemoryQoS=false, ContainerStopSignals=true")
	if err != nil || got[FeatureMemoryQoS] || !got[FeatureContainerStopSignals] || len(got) != 2 {
		t.Fatalf("got %v, %v", got, err)
	}
	for in, want := range map[string]string{
		"Bogus=true":      `"Bogus": unknown feature gate (known: ContainerStopSignals, MemoryQoS)`,
		"MemoryQoS":       `"MemoryQoS": want Name=true or Name=false`,
		"MemoryQoS=maybe": `MemoryQoS: want true or false, got "maybe"`,
	} {
		if _, err := ParseFeatureGates(in); err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %s", in, err, want)
		}
	}
}

func TestRestartCountFromLogsThroughGenerate(t *testing.T) {
	dir := t.TempDir()
	pod := basePod()
	logDir := kubelet.BuildPodLogsDirectory(dir, "ns", "p", "uid-1")
	containerDir := kubelet.BuildContainerLogsDirectory(logDir, "c")
	if err := os.MkdirAll(containerDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"0.log", "1.log"} {
		if err := os.WriteFile(filepath.Join(containerDir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := GenerateConfigs(pod, GenerateOptions{PodLogsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if out.RestartCount != 2 || out.ContainerConfig.Metadata.Attempt != 2 || out.LogPath != logDir+"/c/2.log" ||
		out.ContainerConfig.Annotations[kubelet.ContainerRestartCountAnnotation] != "2" {
		t.Errorf("restart count %d attempt %d log %s", out.RestartCount, out.ContainerConfig.Metadata.Attempt, out.LogPath)
	}
}

func TestDefaultPodDoesNotMutate(t *testing.T) {
	pod := basePod()
	pod.Spec.Containers[0].Resources.Limits = rl("cpu", "1")
	_ = DefaultPod(pod)
	if pod.Spec.Containers[0].Resources.Requests != nil || pod.Spec.SecurityContext != nil {
		t.Error("DefaultPod changed its input")
	}
}

func TestResourceFieldRefFallbacks(t *testing.T) {
	pod := basePod()
	pod.Spec.Containers[0].Env = []v1.EnvVar{
		{Name: "CPU", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1m")}}},
		{Name: "MEM", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.memory"}}},
	}
	out := gen(t, pod, GenerateOptions{})
	if len(out.ContainerConfig.Envs) != 0 {
		t.Errorf("without allocatable the values are left out, got %v", out.ContainerConfig.Envs)
	}
	out = gen(t, pod, GenerateOptions{Node: NodeConfig{Allocatable: rl("cpu", "3500m", "memory", "1Gi")}})
	got := map[string]string{}
	for _, e := range out.ContainerConfig.Envs {
		got[e.Key] = string(e.Value)
	}
	if got["CPU"] != "3500" || got["MEM"] != "1073741824" {
		t.Errorf("got %v", got)
	}
}

// A pod in system-node-critical gets its priority from the Priority
// admission plugin, which makes it critical, hence -997 although Burstable.
func TestNodeCriticalByPriorityClass(t *testing.T) {
	pod := basePod()
	pod.Spec.PriorityClassName = SystemNodeCritical
	pod.Spec.Containers[0].Resources.Requests = rl("memory", "1Gi")
	out := gen(t, pod, GenerateOptions{})
	if out.QOSClass != kubelet.QOSBurstable || out.ContainerConfig.Linux.Resources.OomScoreAdj != -997 {
		t.Errorf("qos %s, oom %d", out.QOSClass, out.ContainerConfig.Linux.Resources.OomScoreAdj)
	}
	pod.Spec.PriorityClassName = SystemClusterCritical
	if got := gen(t, pod, GenerateOptions{}).ContainerConfig.Linux.Resources.OomScoreAdj; got != 938 {
		t.Errorf("cluster-critical is not node-critical: oom %d, want 938", got)
	}
}

func TestWindowsPodRefused(t *testing.T) {
	pod := basePod()
	pod.Spec.OS = &v1.PodOS{Name: v1.Windows}
	if _, err := GenerateConfigs(pod, GenerateOptions{RestartCount: intPtr(0)}); err == nil || !strings.Contains(err.Error(), "windows") {
		t.Errorf("got %v", err)
	}
}

// A hugepages resource whose name holds a hostile size: the size is
// bounded before resource.ParseQuantity (hours on this one) sees it, and
// the resource is not taken for a hugepage limit.
func TestGenerateHostileHugePageName(t *testing.T) {
	pod := basePod()
	name := v1.ResourceName(v1.ResourceHugePagesPrefix + "9e-999999999")
	pod.Spec.Containers[0].Resources.Limits = v1.ResourceList{name: resource.MustParse("2Mi")}
	out := gen(t, pod, GenerateOptions{})
	// The node's page sizes are listed as ever, all at 0.
	for _, hp := range out.ContainerConfig.GetLinux().GetResources().GetHugepageLimits() {
		if hp.GetLimit() != 0 {
			t.Errorf("hugepage limit from a hostile name: %v", hp)
		}
	}
}
