// Package criview shows what an NRI plugin sees for a CRI request: given
// the PodSandboxConfig and ContainerConfig the kubelet sends, it builds
// the api.PodSandbox and api.Container containerd hands to NRI plugins at
// CreateContainer. `specguard explain --pod` uses it so one Pod manifest
// can be explained end to end without a runtime.
package criview

import (
	"maps"
	"strconv"

	"github.com/containerd/nri/pkg/api"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/specguard/specguard/pkg/kubelet"
)

// Placeholder IDs: a runtime assigns real ones.
const (
	SandboxID   = "explain-sandbox"
	ContainerID = "explain-container"
	sandboxPID  = 4242 // any pid but 1: /proc/1/ns/* is the host's namespaces
)

// Pod returns the sandbox as containerd reports it to NRI plugins.
func Pod(sb *runtimeapi.PodSandboxConfig, runtimeHandler string) *api.PodSandbox {
	md := sb.GetMetadata()
	ann := copyMap(sb.GetAnnotations())
	if sb.GetLogDirectory() != "" {
		ann[kubelet.CRISandboxLogDirAnnotation] = sb.GetLogDirectory()
	}
	ann[kubelet.CRIContainerTypeAnnotation] = kubelet.CRIContainerTypeSandbox
	ann[kubelet.CRISandboxNameAnnotation] = md.GetName()
	ann[kubelet.CRISandboxNamespaceAnnotation] = md.GetNamespace()
	ann[kubelet.CRISandboxUIDAnnotation] = md.GetUid()
	return &api.PodSandbox{
		Id: SandboxID, Name: md.GetName(), Uid: md.GetUid(), Namespace: md.GetNamespace(),
		Labels: copyMap(sb.GetLabels()), Annotations: ann, RuntimeHandler: runtimeHandler,
		Linux: &api.LinuxPodSandbox{CgroupParent: sb.GetLinux().GetCgroupParent()},
	}
}

// Container returns the container being created as containerd reports it
// to NRI plugins at CreateContainer.
func Container(sb *runtimeapi.PodSandboxConfig, c *runtimeapi.ContainerConfig) *api.Container {
	md := c.GetMetadata()
	ann := copyMap(c.GetAnnotations())
	ann[kubelet.CRIContainerTypeAnnotation] = kubelet.CRIContainerTypeContainer
	ann[kubelet.CRISandboxIDAnnotation] = SandboxID
	ann[kubelet.CRISandboxNameAnnotation] = sb.GetMetadata().GetName()
	ann[kubelet.CRISandboxNamespaceAnnotation] = sb.GetMetadata().GetNamespace()
	ann[kubelet.CRISandboxUIDAnnotation] = sb.GetMetadata().GetUid()
	ann[kubelet.CRIContainerNameAnnotation] = md.GetName()
	ann[kubelet.CRIImageNameAnnotation] = c.GetImage().GetImage()

	out := &api.Container{
		Id: ContainerID, PodSandboxId: SandboxID, Name: md.GetName(), State: api.ContainerState_CONTAINER_UNKNOWN,
		Labels: copyMap(c.GetLabels()), Annotations: ann,
		Args:  append(append([]string{}, c.GetCommand()...), c.GetArgs()...),
		Image: &api.Image{Name: c.GetImage().GetImage()},
	}
	for _, kv := range c.GetEnvs() {
		out.Env = append(out.Env, kv.GetKey()+"="+string(kv.GetValue()))
	}
	for _, m := range c.GetMounts() {
		opts := []string{"rbind"}
		if m.GetReadonly() {
			opts = append(opts, "ro")
		} else {
			opts = append(opts, "rw")
		}
		out.Mounts = append(out.Mounts, &api.Mount{Destination: m.GetContainerPath(), Source: m.GetHostPath(), Type: "bind", Options: opts})
	}
	sc := c.GetLinux().GetSecurityContext()
	if sc != nil {
		u := &api.User{}
		if sc.GetRunAsUser() != nil {
			u.Uid = uint32(sc.GetRunAsUser().GetValue())
		}
		if sc.GetRunAsGroup() != nil {
			u.Gid = uint32(sc.GetRunAsGroup().GetValue())
		}
		for _, g := range sc.GetSupplementalGroups() {
			u.AdditionalGids = append(u.AdditionalGids, uint32(g))
		}
		out.User = u
	}
	lin := &api.LinuxContainer{Namespaces: namespaces(sc.GetNamespaceOptions())}
	if r := c.GetLinux().GetResources(); r != nil {
		lin.Resources = resources(r)
		if r.GetOomScoreAdj() != 0 {
			lin.OomScoreAdj = api.Int(int(r.GetOomScoreAdj()))
		}
	}
	switch sc.GetSeccomp().GetProfileType() {
	case runtimeapi.SecurityProfile_RuntimeDefault:
		lin.SeccompProfile = &api.SecurityProfile{ProfileType: api.SecurityProfile_RUNTIME_DEFAULT}
	case runtimeapi.SecurityProfile_Localhost:
		lin.SeccompProfile = &api.SecurityProfile{ProfileType: api.SecurityProfile_LOCALHOST, LocalhostRef: sc.GetSeccomp().GetLocalhostRef()}
	default:
		lin.SeccompProfile = &api.SecurityProfile{ProfileType: api.SecurityProfile_UNCONFINED}
	}
	if sys := sb.GetLinux().GetSysctls(); len(sys) > 0 {
		lin.Sysctl = copyMap(sys)
	}
	for _, d := range c.GetDevices() {
		lin.Devices = append(lin.Devices, &api.LinuxDevice{Path: d.GetContainerPath(), Type: "c"})
	}
	out.Linux = lin
	return out
}

// namespaces follows containerd's CRI: a namespace shared with the node is
// left out of the spec, one shared with the pod joins the sandbox's.
func namespaces(o *runtimeapi.NamespaceOption) []*api.LinuxNamespace {
	sandboxNS := func(typ, name string) *api.LinuxNamespace {
		return &api.LinuxNamespace{Type: typ, Path: "/proc/" + strconv.Itoa(sandboxPID) + "/ns/" + name}
	}
	ns := []*api.LinuxNamespace{{Type: "mount"}}
	if o.GetNetwork() != runtimeapi.NamespaceMode_NODE {
		ns = append(ns, sandboxNS("network", "net"), sandboxNS("uts", "uts"))
	}
	if o.GetIpc() != runtimeapi.NamespaceMode_NODE {
		ns = append(ns, sandboxNS("ipc", "ipc"))
	}
	switch o.GetPid() {
	case runtimeapi.NamespaceMode_NODE:
	case runtimeapi.NamespaceMode_POD:
		ns = append(ns, sandboxNS("pid", "pid"))
	default:
		ns = append(ns, &api.LinuxNamespace{Type: "pid"})
	}
	return ns
}

func resources(r *runtimeapi.LinuxContainerResources) *api.LinuxResources {
	out := &api.LinuxResources{
		Cpu:    &api.LinuxCPU{Cpus: r.GetCpusetCpus(), Mems: r.GetCpusetMems()},
		Memory: &api.LinuxMemory{},
	}
	if r.GetCpuShares() != 0 {
		out.Cpu.Shares = api.UInt64(uint64(r.GetCpuShares()))
	}
	if r.GetCpuQuota() != 0 {
		out.Cpu.Quota = api.Int64(r.GetCpuQuota())
	}
	if r.GetCpuPeriod() != 0 {
		out.Cpu.Period = api.UInt64(uint64(r.GetCpuPeriod()))
	}
	if r.GetMemoryLimitInBytes() != 0 {
		out.Memory.Limit = api.Int64(r.GetMemoryLimitInBytes())
		// containerd gives no swap unless configured: swap == limit.
		out.Memory.Swap = api.Int64(r.GetMemoryLimitInBytes())
	}
	for _, h := range r.GetHugepageLimits() {
		out.HugepageLimits = append(out.HugepageLimits, &api.HugepageLimit{PageSize: h.GetPageSize(), Limit: h.GetLimit()})
	}
	if len(r.GetUnified()) > 0 {
		out.Unified = copyMap(r.GetUnified())
	}
	return out
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+8)
	maps.Copy(out, m)
	return out
}
