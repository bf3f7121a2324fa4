//go:build parity

package parity

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/specguard/specguard/pkg/kubelet/podgen"
)

// corpusPod is one pod of the corpus, with where it came from (a file, or
// the generator's seed and index) so that a difference can be reproduced.
type corpusPod struct {
	origin       string
	pod          *v1.Pod
	restartCount int
	imageUser    *string
}

// handWrittenPods reads testdata/pods/*.yaml. A pod may choose its restart
// count and image user with the parity.specguard.io/restart-count and
// parity.specguard.io/image-user annotations (read here, kept in the pod:
// they are ordinary annotations to both sides).
func handWrittenPods(t *testing.T) []corpusPod {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "pods", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no hand-written pods in testdata/pods (%v)", err)
	}
	sort.Strings(files)
	var out []corpusPod
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pod, err := podgen.DecodePod(f, data)
		if err != nil {
			t.Fatalf("%v", err)
		}
		cp := corpusPod{origin: f, pod: pod}
		if s, ok := pod.Annotations["parity.specguard.io/restart-count"]; ok {
			if _, err := fmt.Sscanf(s, "%d", &cp.restartCount); err != nil || cp.restartCount < 0 {
				t.Fatalf("%s: metadata.annotations[parity.specguard.io/restart-count]: want a non-negative integer, got %q", f, s)
			}
		}
		if s, ok := pod.Annotations["parity.specguard.io/image-user"]; ok {
			cp.imageUser = &s
		}
		out = append(out, cp)
	}
	return out
}

// podGenerator makes random valid pods from a seed: every QoS class,
// requests and limits in several units, init containers and sidecars,
// pod-level resources, security contexts, host namespaces, ports, sysctls,
// seccomp and AppArmor, hugepages, env with the downward API, volumes.
type podGenerator struct {
	r    *rand.Rand
	seed uint64
}

func newPodGenerator(seed uint64) *podGenerator {
	return &podGenerator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seed: seed}
}

func (g *podGenerator) pick(s ...string) string { return s[g.r.IntN(len(s))] }
func (g *podGenerator) chance(p float64) bool   { return g.r.Float64() < p }

var (
	cpuValues = []string{"1m", "10m", "100m", "250m", "500m", "1", "1500m", "2", "0.3", "4"}
	memValues = []string{"1", "64Mi", "128Mi", "200M", "256Mi", "1Gi", "1.5Gi", "123456789", "2G", "512Ki", "3Gi"}
)

func (g *podGenerator) pod(i int) corpusPod {
	name := fmt.Sprintf("gen-%d", i)
	pod := &v1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: g.pick("default", "team-a", "kube-system"),
			UID:       types.UID(fmt.Sprintf("%08x-0000-4000-8000-%012x", g.seed&0xffffffff, i)),
			Labels:    map[string]string{"app": name},
		},
		Spec: v1.PodSpec{NodeName: nodeName},
	}
	if g.chance(0.5) {
		pod.Labels["tier"] = g.pick("web", "db", "cache")
		pod.Annotations = map[string]string{"note": g.pick("a", "b c", `{"x":1}`)}
	}
	if g.chance(0.3) {
		pod.Spec.TerminationGracePeriodSeconds = ptr.To(int64(g.r.IntN(120)))
	}
	switch g.r.IntN(10) {
	case 0:
		pod.Spec.HostNetwork = true
	case 1:
		pod.Spec.HostPID = true
	case 2:
		pod.Spec.HostIPC = true
	case 3:
		pod.Spec.ShareProcessNamespace = ptr.To(true)
	}
	if g.chance(0.3) {
		pod.Spec.DNSPolicy = v1.DNSPolicy(g.pick("ClusterFirst", "Default", "ClusterFirstWithHostNet", "None"))
		if pod.Spec.DNSPolicy == v1.DNSNone || g.chance(0.3) {
			pod.Spec.DNSConfig = &v1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"svc.example"},
				Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}}}
		}
	}
	if g.chance(0.2) {
		pod.Spec.Hostname = g.pick("h1", "a-very-long-hostname-that-goes-on")
		if g.chance(0.5) {
			pod.Spec.Subdomain = "sub"
			pod.Spec.SetHostnameAsFQDN = ptr.To(g.chance(0.5))
		}
	}
	if g.chance(0.05) && pod.Namespace == "kube-system" {
		pod.Spec.PriorityClassName = podgen.SystemNodeCritical
	}
	pod.Spec.SecurityContext = g.podSecurity()
	if g.chance(0.3) {
		pod.Spec.Volumes = g.volumes()
	}
	guaranteed := g.chance(0.2)
	bestEffort := !guaranteed && g.chance(0.2)
	n := 1 + g.r.IntN(3)
	for j := 0; j < n; j++ {
		pod.Spec.Containers = append(pod.Spec.Containers, g.container(pod, fmt.Sprintf("c%d", j), guaranteed, bestEffort, true))
	}
	for j := 0; j < g.r.IntN(3); j++ {
		c := g.container(pod, fmt.Sprintf("init%d", j), guaranteed, bestEffort, false)
		if g.chance(0.5) {
			c.RestartPolicy = ptr.To(v1.ContainerRestartPolicyAlways)
		}
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, c)
	}
	if !bestEffort && g.chance(0.15) {
		// Pod-level resources above what the containers ask for.
		pod.Spec.Resources = &v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(g.pick("4", "8")), v1.ResourceMemory: resource.MustParse(g.pick("8Gi", "10Gi"))},
		}
		if g.chance(0.5) {
			pod.Spec.Resources.Limits = v1.ResourceList{v1.ResourceCPU: resource.MustParse("8"), v1.ResourceMemory: resource.MustParse("12Gi")}
		}
	}
	if g.chance(0.1) {
		pod.Spec.Overhead = v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m"), v1.ResourceMemory: resource.MustParse("120Mi")}
	}
	cp := corpusPod{origin: fmt.Sprintf("seed %d pod %d", g.seed, i), pod: pod, restartCount: g.r.IntN(4)}
	switch g.r.IntN(4) {
	case 0:
		cp.imageUser = ptr.To("")
	case 1:
		cp.imageUser = ptr.To("1000")
	case 2:
		cp.imageUser = ptr.To("nginx")
	}
	return cp
}

func (g *podGenerator) podSecurity() *v1.PodSecurityContext {
	if g.chance(0.4) {
		return nil
	}
	sc := &v1.PodSecurityContext{}
	if g.chance(0.5) {
		sc.RunAsUser = ptr.To(int64(g.pick2(0, 1000, 65534)))
	}
	if g.chance(0.4) {
		sc.RunAsGroup = ptr.To(int64(g.pick2(0, 2000)))
	}
	if g.chance(0.3) {
		sc.RunAsNonRoot = ptr.To(g.chance(0.5))
	}
	if g.chance(0.4) {
		sc.FSGroup = ptr.To(int64(g.pick2(3000, 4000)))
	}
	if g.chance(0.3) {
		sc.SupplementalGroups = []int64{5000, int64(g.pick2(6000, 7000))}
	}
	if g.chance(0.2) {
		sc.SupplementalGroupsPolicy = ptr.To(v1.SupplementalGroupsPolicy(g.pick("Merge", "Strict")))
	}
	if g.chance(0.3) {
		sc.Sysctls = []v1.Sysctl{{Name: g.pick("net.ipv4.ip_local_port_range", "kernel.shm_rmid_forced", "net.ipv4.tcp_syncookies"), Value: g.pick("1", "1024 65000")}}
	}
	if g.chance(0.4) {
		sc.SeccompProfile = g.seccomp()
	}
	if g.chance(0.3) {
		sc.AppArmorProfile = g.apparmor()
	}
	if g.chance(0.2) {
		sc.SELinuxOptions = &v1.SELinuxOptions{Level: "s0:c1,c2", Type: g.pick("", "spc_t")}
	}
	return sc
}

func (g *podGenerator) pick2(a ...int) int { return a[g.r.IntN(len(a))] }

func (g *podGenerator) seccomp() *v1.SeccompProfile {
	switch g.r.IntN(3) {
	case 0:
		return &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}
	case 1:
		return &v1.SeccompProfile{Type: v1.SeccompProfileTypeUnconfined}
	}
	return &v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To(g.pick("audit.json", "dir/strict.json"))}
}

func (g *podGenerator) apparmor() *v1.AppArmorProfile {
	switch g.r.IntN(3) {
	case 0:
		return &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeRuntimeDefault}
	case 1:
		return &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeUnconfined}
	}
	return &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr.To("k8s-apparmor-example")}
}

func (g *podGenerator) volumes() []v1.Volume {
	vols := []v1.Volume{{Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}}
	if g.chance(0.5) {
		vols = append(vols, v1.Volume{Name: "host", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: g.pick("/var/log", "/data")}}})
	}
	if g.chance(0.5) {
		vols = append(vols, v1.Volume{Name: "cfg", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}}})
	}
	if g.chance(0.5) {
		vols = append(vols, v1.Volume{Name: "creds", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "creds"}}})
	}
	if g.chance(0.3) {
		vols = append(vols, v1.Volume{Name: "info", VolumeSource: v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{
			Items: []v1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}})
	}
	return vols
}

func (g *podGenerator) resources(guaranteed, bestEffort bool) v1.ResourceRequirements {
	var r v1.ResourceRequirements
	if bestEffort {
		return r
	}
	cpu, mem := resource.MustParse(g.pick(cpuValues...)), resource.MustParse(g.pick(memValues...))
	if guaranteed {
		r.Limits = v1.ResourceList{v1.ResourceCPU: cpu, v1.ResourceMemory: mem}
		if g.chance(0.5) {
			r.Requests = v1.ResourceList{v1.ResourceCPU: cpu, v1.ResourceMemory: mem}
		}
		if g.chance(0.15) {
			hp := resource.MustParse(g.pick("2Mi", "4Mi", "8Mi"))
			r.Limits[v1.ResourceName("hugepages-2Mi")] = hp
			if r.Requests != nil {
				r.Requests[v1.ResourceName("hugepages-2Mi")] = hp
			}
		}
		return r
	}
	r.Requests = v1.ResourceList{}
	r.Limits = v1.ResourceList{}
	if g.chance(0.7) {
		r.Requests[v1.ResourceCPU] = cpu
	}
	if g.chance(0.7) {
		r.Requests[v1.ResourceMemory] = mem
	}
	if g.chance(0.4) {
		lim := cpu.DeepCopy()
		lim.Add(resource.MustParse(g.pick("0", "500m", "1")))
		r.Limits[v1.ResourceCPU] = lim
	}
	if g.chance(0.4) {
		lim := mem.DeepCopy()
		lim.Add(resource.MustParse(g.pick("0", "64Mi", "1Gi")))
		r.Limits[v1.ResourceMemory] = lim
	}
	if g.chance(0.2) {
		r.Requests[v1.ResourceEphemeralStorage] = resource.MustParse("1Gi")
		if g.chance(0.5) {
			r.Limits[v1.ResourceEphemeralStorage] = resource.MustParse("2Gi")
		}
	}
	if len(r.Requests) == 0 && len(r.Limits) == 0 {
		r.Requests[v1.ResourceMemory] = mem
	}
	if len(r.Requests) == 0 {
		r.Requests = nil
	}
	if len(r.Limits) == 0 {
		r.Limits = nil
	}
	return r
}

func (g *podGenerator) container(pod *v1.Pod, name string, guaranteed, bestEffort, regular bool) v1.Container {
	c := v1.Container{
		Name:      name,
		Image:     g.pick("busybox:1.36", "registry.example/app:5", "nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000"),
		Resources: g.resources(guaranteed, bestEffort),
	}
	if g.chance(0.5) {
		c.Command = []string{"sh", "-c", g.pick("echo $(GREETING) $(MISSING)", "sleep 1", "echo $$(ESCAPED)")}
	}
	if g.chance(0.3) {
		c.Args = []string{g.pick("--name=$(POD_NAME)", "x"), "$(CPU_LIMIT)"}
	}
	if g.chance(0.2) {
		c.WorkingDir = "/work"
	}
	if g.chance(0.6) {
		c.Env = g.env()
	}
	if regular && g.chance(0.4) {
		c.Ports = []v1.ContainerPort{{Name: "http", ContainerPort: int32(8080 + g.r.IntN(3)), Protocol: v1.Protocol(g.pick("TCP", "UDP", "SCTP"))}}
		if g.chance(0.3) {
			c.Ports[0].HostPort = 30080 + int32(g.r.IntN(10))
			if g.chance(0.5) {
				c.Ports[0].HostIP = "127.0.0.1"
			}
		}
		if g.chance(0.3) {
			c.Ports = append(c.Ports, v1.ContainerPort{Name: "metrics", ContainerPort: 9090})
		}
	}
	if g.chance(0.5) {
		c.SecurityContext = g.containerSecurity()
	}
	for _, v := range pod.Spec.Volumes {
		if g.chance(0.6) {
			m := v1.VolumeMount{Name: v.Name, MountPath: "/mnt/" + v.Name, ReadOnly: g.chance(0.3)}
			if v.HostPath != nil && g.chance(0.3) {
				m.MountPropagation = ptr.To(v1.MountPropagationMode(g.pick("None", "HostToContainer", "Bidirectional")))
				if *m.MountPropagation == v1.MountPropagationBidirectional {
					if c.SecurityContext == nil {
						c.SecurityContext = &v1.SecurityContext{}
					}
					c.SecurityContext.Privileged = ptr.To(true)
				}
			}
			c.VolumeMounts = append(c.VolumeMounts, m)
		}
	}
	if g.chance(0.2) {
		c.TerminationMessagePath = "/tmp/termination"
		c.TerminationMessagePolicy = v1.TerminationMessageFallbackToLogsOnError
	}
	if g.chance(0.15) {
		c.Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"sleep", "5"}}}}
		if g.chance(0.5) {
			c.Lifecycle.StopSignal = ptr.To(v1.Signal(g.pick("SIGUSR1", "SIGTERM", "SIGRTMIN+3")))
		}
	}
	if g.chance(0.1) {
		c.TTY, c.Stdin = true, true
		c.StdinOnce = g.chance(0.5)
	}
	return c
}

func (g *podGenerator) containerSecurity() *v1.SecurityContext {
	sc := &v1.SecurityContext{}
	if g.chance(0.3) {
		sc.RunAsUser = ptr.To(int64(g.pick2(0, 1001, 65534)))
	}
	if g.chance(0.2) {
		sc.RunAsGroup = ptr.To(int64(g.pick2(0, 2001)))
	}
	if g.chance(0.2) {
		sc.RunAsNonRoot = ptr.To(g.chance(0.5))
	}
	if g.chance(0.3) {
		sc.AllowPrivilegeEscalation = ptr.To(g.chance(0.5))
	}
	if g.chance(0.3) {
		sc.ReadOnlyRootFilesystem = ptr.To(g.chance(0.5))
	}
	if g.chance(0.3) {
		sc.Capabilities = &v1.Capabilities{Add: []v1.Capability{v1.Capability(g.pick("NET_ADMIN", "SYS_TIME"))}, Drop: []v1.Capability{v1.Capability(g.pick("ALL", "MKNOD"))}}
	}
	if g.chance(0.1) {
		sc.Privileged = ptr.To(true)
	}
	if g.chance(0.1) {
		sc.ProcMount = ptr.To(v1.ProcMountType(g.pick("Default", "Unmasked")))
	}
	if g.chance(0.3) {
		sc.SeccompProfile = g.seccomp()
	}
	if g.chance(0.2) {
		sc.AppArmorProfile = g.apparmor()
	}
	return sc
}

func (g *podGenerator) env() []v1.EnvVar {
	env := []v1.EnvVar{{Name: "GREETING", Value: g.pick("hello", "hi $(POD_NAME)", "")}}
	refs := []v1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_NS", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: "POD_UID", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.uid"}}},
		{Name: "APP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
		{Name: "NODE", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		{Name: "SA", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.serviceAccountName"}}},
		{Name: "POD_IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "POD_IPS", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIPs"}}},
		{Name: "HOST_IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
		{Name: "CPU_LIMIT", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse(g.pick("1", "1m"))}}},
		{Name: "MEM_REQ", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "requests.memory", Divisor: resource.MustParse(g.pick("1", "1Mi"))}}},
		{Name: "MEM_LIMIT", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse(g.pick("1", "1Mi", "1Gi"))}}},
		{Name: "DISK_LIMIT", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.ephemeral-storage", Divisor: resource.MustParse("1Gi")}}},
		{Name: "LABELS", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels"}}},
	}
	g.r.Shuffle(len(refs), func(i, j int) { refs[i], refs[j] = refs[j], refs[i] })
	env = append(env, refs[:1+g.r.IntN(len(refs))]...)
	if g.chance(0.3) {
		env = append(env, v1.EnvVar{Name: "COMPOSED", Value: "$(POD_NAME).$(POD_NS) $$(LITERAL) $(UNKNOWN)"})
	}
	return env
}
