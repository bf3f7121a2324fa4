package podgen

import (
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/quantity"
)

// cgroup v2 files the kubelet sets through LinuxContainerResources.Unified.
const (
	UnifiedMemoryOOMGroup = "memory.oom.group"
	UnifiedMemorySwapMax  = "memory.swap.max"
	UnifiedMemoryMin      = "memory.min"
	UnifiedMemoryLow      = "memory.low"
	UnifiedMemoryHigh     = "memory.high"
)

// LinuxResources is the kubelet's calculateLinuxResources: shares from the
// cpu request (from the limit when the request key is absent), quota from
// the limit, period always QuotaPeriod, the memory limit when non-zero, and
// memory.oom.group=1 on cgroup v2 unless singleProcessOOMKill.
func LinuxResources(cpuRequest *resource.Quantity, cpuLimit, memoryLimit resource.Quantity, node *NodeConfig) *runtimeapi.LinuxContainerResources {
	r := &runtimeapi.LinuxContainerResources{}
	if cpuRequest == nil {
		r.CpuShares = int64(kubelet.MilliCPUToShares(cpuLimit.MilliValue()))
	} else {
		r.CpuShares = int64(kubelet.MilliCPUToShares(cpuRequest.MilliValue()))
	}
	if m := memoryLimit.Value(); m != 0 {
		r.MemoryLimitInBytes = m
	}
	r.CpuQuota = kubelet.MilliCPUToQuota(cpuLimit.MilliValue(), kubelet.QuotaPeriod)
	r.CpuPeriod = kubelet.QuotaPeriod
	if node.cgroupV2() && !node.SingleProcessOOMKill {
		r.Unified = map[string]string{UnifiedMemoryOOMGroup: "1"}
	}
	return r
}

// containerResources is the kubelet's generateLinuxContainerResources.
func containerResources(pod *v1.Pod, c *v1.Container, node *NodeConfig) *runtimeapi.LinuxContainerResources {
	var cpuRequest *resource.Quantity
	if q, ok := c.Resources.Requests[v1.ResourceCPU]; ok {
		cpuRequest = &q
	}
	cpuLimit := c.Resources.Limits[v1.ResourceCPU]
	memLimit := c.Resources.Limits[v1.ResourceMemory]
	if pr := pod.Spec.Resources; pr != nil && podLevelSet(pr) {
		// Pod-level limits stand in for missing container limits.
		if cpuLimit.IsZero() {
			cpuLimit = pr.Limits[v1.ResourceCPU]
		}
		if memLimit.IsZero() {
			memLimit = pr.Limits[v1.ResourceMemory]
		}
	}
	r := LinuxResources(cpuRequest, cpuLimit, memLimit, node)
	r.OomScoreAdj = int64(ContainerOOMScoreAdj(pod, c, node.memoryCapacity()))
	r.HugepageLimits = HugepageLimits(pod, c.Resources, node.hugePageSizes())
	// Swap: the kubelet's default NoSwap behaviour, with a swap controller.
	if node.cgroupV2() {
		if r.Unified == nil {
			r.Unified = map[string]string{}
		}
		r.Unified[UnifiedMemorySwapMax] = "0"
		// MemoryQoS with the default memoryReservationPolicy None and no
		// memoryThrottlingFactor: no protection and no throttling, written
		// out; without it memory.high is reset to max.
		if node.featureEnabled(FeatureMemoryQoS) {
			r.Unified[UnifiedMemoryMin] = "0"
			r.Unified[UnifiedMemoryLow] = "0"
		} else {
			r.Unified[UnifiedMemoryHigh] = "max"
		}
	} else {
		r.MemorySwapLimitInBytes = r.MemoryLimitInBytes
	}
	return r
}

func podLevelSet(r *v1.ResourceRequirements) bool {
	for _, l := range []v1.ResourceList{r.Requests, r.Limits} {
		for name := range l {
			if name == v1.ResourceCPU || name == v1.ResourceMemory || strings.HasPrefix(string(name), v1.ResourceHugePagesPrefix) {
				return true
			}
		}
	}
	return false
}

// ContainerOOMScoreAdj is the kubelet's GetContainerOOMScoreAdjust
// (pkg/kubelet/qos/policy.go): -997 for node-critical and Guaranteed pods,
// 1000 for BestEffort, and for Burstable 1000 - 1000*request/capacity kept
// within [3, 999], where request is the container's memory request plus,
// when the pod sets pod-level requests, an equal share of the pod's memory
// request the containers leave unrequested. A sidecar (restartable init
// container) gets the lower of its own score and the score of the smallest
// regular-container request (with the same share), so it is not killed
// after the containers it serves.
func ContainerOOMScoreAdj(pod *v1.Pod, c *v1.Container, memoryCapacity int64) int {
	qos := PodQOSClass(pod)
	critical := IsNodeCriticalPod(pod)
	if critical || qos != kubelet.QOSBurstable {
		return kubelet.OOMScoreAdj(qos, 0, memoryCapacity, critical)
	}
	share := int64(0)
	if pr := pod.Spec.Resources; pr != nil && podLevelSet(&v1.ResourceRequirements{Requests: pr.Requests}) {
		share = unrequestedPodMemoryShare(pod)
	}
	req := c.Resources.Requests.Memory().Value() + share
	if isSidecar(pod, c.Name) && len(pod.Spec.Containers) > 0 {
		smallest := pod.Spec.Containers[0].Resources.Requests.Memory().Value()
		for i := 1; i < len(pod.Spec.Containers); i++ {
			smallest = min(smallest, pod.Spec.Containers[i].Resources.Requests.Memory().Value())
		}
		// A smaller request is a higher score; the lower score wins.
		req = max(req, smallest+share)
	}
	return kubelet.OOMScoreAdj(qos, req, memoryCapacity, false)
}

// unrequestedPodMemoryShare is the kubelet's remainingPodMemReqPerContainer:
// the pod-level memory request minus what the containers request together
// (aggregated with the init container rules), never below zero, divided
// equally among all containers, init containers included.
func unrequestedPodMemoryShare(pod *v1.Pod) int64 {
	podReq := pod.Spec.Resources.Requests.Memory().Value()
	n := int64(len(pod.Spec.Containers) + len(pod.Spec.InitContainers))
	if podReq == 0 || n == 0 {
		return 0
	}
	containers := containerAggregate(pod, func(r *v1.ResourceRequirements) v1.ResourceList { return r.Requests })
	return max(podReq-containers.Memory().Value(), 0) / n
}

// HugepageLimits lists every host page size with limit 0, then sets those
// the container (or, for sizes the container leaves out, the pod) limits.
// pageSizes are in the runtime's notation: "2MB", "1GB".
func HugepageLimits(pod *v1.Pod, r v1.ResourceRequirements, pageSizes []string) []*runtimeapi.HugepageLimit {
	want := map[string]uint64{}
	read := func(l v1.ResourceList) {
		for name, q := range l {
			if size, ok := hugePageSize(name); ok {
				want[size] = uint64(q.Value())
			}
		}
	}
	if pod.Spec.Resources != nil {
		read(pod.Spec.Resources.Limits)
	}
	read(r.Limits)
	out := make([]*runtimeapi.HugepageLimit, 0, len(pageSizes))
	for _, ps := range pageSizes {
		out = append(out, &runtimeapi.HugepageLimit{PageSize: ps, Limit: want[ps]})
	}
	return out
}

// hugePageSize turns "hugepages-2Mi" into "2MB".
func hugePageSize(name v1.ResourceName) (string, bool) {
	s, ok := strings.CutPrefix(string(name), v1.ResourceHugePagesPrefix)
	if !ok {
		return "", false
	}
	q, err := quantity.Parse(s)
	if err != nil || q.Sign() <= 0 {
		return "", false
	}
	return HugePageUnitSize(q.Value())
}

// HugePageUnitSize renders a page size in bytes the way runc names hugetlb
// controllers: the largest of KB, MB, GB, TB, PB (powers of 1024) that
// divides it.
func HugePageUnitSize(size int64) (string, bool) {
	units := []string{"B", "KB", "MB", "GB", "TB", "PB"}
	if size <= 0 {
		return "", false
	}
	i := 0
	for size >= 1024 && size%1024 == 0 && i < len(units)-1 {
		size /= 1024
		i++
	}
	if i == 0 {
		return "", false
	}
	return strconv.FormatInt(size, 10) + units[i], true
}

// PodRequests and PodLimits aggregate a pod's resources as the kubelet does
// for the sandbox: the sum over regular and restartable init containers,
// or, if larger, the largest init container plus the sidecars started
// before it; pod-level values replace the aggregate for cpu, memory and
// hugepages. Overhead is not included.
func PodRequests(pod *v1.Pod) v1.ResourceList {
	return aggregate(pod, func(r *v1.ResourceRequirements) v1.ResourceList { return r.Requests })
}

// PodLimits: see PodRequests.
func PodLimits(pod *v1.Pod) v1.ResourceList {
	return aggregate(pod, func(r *v1.ResourceRequirements) v1.ResourceList { return r.Limits })
}

func aggregate(pod *v1.Pod, pick func(*v1.ResourceRequirements) v1.ResourceList) v1.ResourceList {
	sum := containerAggregate(pod, pick)
	if pr := pod.Spec.Resources; pr != nil {
		for name, q := range pick(pr) {
			if name == v1.ResourceCPU || name == v1.ResourceMemory || strings.HasPrefix(string(name), v1.ResourceHugePagesPrefix) {
				sum[name] = q.DeepCopy()
			}
		}
	}
	return sum
}

// containerAggregate is the containers' part of aggregate, without
// pod-level values (the kubelet's AggregateContainerRequests and Limits).
func containerAggregate(pod *v1.Pod, pick func(*v1.ResourceRequirements) v1.ResourceList) v1.ResourceList {
	sum := v1.ResourceList{}
	for i := range pod.Spec.Containers {
		addList(sum, pick(&pod.Spec.Containers[i].Resources))
	}
	sidecars := v1.ResourceList{}
	initMax := v1.ResourceList{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			addList(sum, pick(&c.Resources))
			addList(sidecars, pick(&c.Resources))
			continue
		}
		tmp := v1.ResourceList{}
		addList(tmp, pick(&c.Resources))
		addList(tmp, sidecars)
		maxList(initMax, tmp)
	}
	maxList(sum, initMax)
	return sum
}

func addList(dst, src v1.ResourceList) {
	for name, q := range src {
		cur, ok := dst[name]
		if !ok {
			dst[name] = q.DeepCopy()
			continue
		}
		cur.Add(q)
		dst[name] = cur
	}
}

func maxList(dst, src v1.ResourceList) {
	for name, q := range src {
		if cur, ok := dst[name]; !ok || q.Cmp(cur) > 0 {
			dst[name] = q.DeepCopy()
		}
	}
}

// sandboxResources is the kubelet's calculateSandboxResources.
func sandboxResources(pod *v1.Pod, node *NodeConfig) *runtimeapi.LinuxContainerResources {
	req := PodRequests(pod)
	lim := PodLimits(pod)
	var cpuRequest *resource.Quantity
	if q, ok := req[v1.ResourceCPU]; ok {
		cpuRequest = &q
	}
	return LinuxResources(cpuRequest, lim[v1.ResourceCPU], lim[v1.ResourceMemory], node)
}

// sandboxOverhead is the kubelet's convertOverheadToLinuxResources: the
// pod's overhead treated as request = limit, or empty resources.
func sandboxOverhead(pod *v1.Pod, node *NodeConfig) *runtimeapi.LinuxContainerResources {
	if pod.Spec.Overhead == nil {
		return &runtimeapi.LinuxContainerResources{}
	}
	cpu := pod.Spec.Overhead[v1.ResourceCPU]
	return LinuxResources(&cpu, cpu, pod.Spec.Overhead[v1.ResourceMemory], node)
}

// CgroupParent is the pod cgroup the kubelet passes as
// LinuxPodSandboxConfig.CgroupParent, under kubepods[/burstable|/besteffort]:
// with the systemd driver the expanded slice path
// "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice",
// with cgroupfs "/kubepods/burstable/pod<uid>".
func CgroupParent(qos kubelet.QOSClass, podUID, driver string) string {
	parts := []string{"kubepods"}
	switch qos {
	case kubelet.QOSBurstable:
		parts = append(parts, "burstable")
	case kubelet.QOSBestEffort:
		parts = append(parts, "besteffort")
	}
	if driver == CgroupDriverCgroupfs {
		return "/" + strings.Join(append(parts, "pod"+podUID), "/")
	}
	// systemd: each name escaped ("-" -> "_"), then every prefix is a slice.
	parts = append(parts, "pod"+strings.ReplaceAll(podUID, "-", "_"))
	var b strings.Builder
	for i := range parts {
		b.WriteString("/" + strings.Join(parts[:i+1], "-") + ".slice")
	}
	return b.String()
}
