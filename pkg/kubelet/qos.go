package kubelet

import (
	v1 "k8s.io/api/core/v1"
)

// QOSClass is a pod's quality-of-service class as the kubelet computes it.
type QOSClass string

// The three QoS classes, spelled as in v1.PodQOSClass.
const (
	QOSGuaranteed QOSClass = "Guaranteed"
	QOSBurstable  QOSClass = "Burstable"
	QOSBestEffort QOSClass = "BestEffort"
)

// oom_score_adj values of the kubelet's QoS policy (pkg/kubelet/qos).
const (
	GuaranteedOOMScoreAdj = -997
	BestEffortOOMScoreAdj = 1000
	// The lowest score a Burstable container gets: above any Guaranteed one.
	MinBurstableOOMScoreAdj = 1000 + GuaranteedOOMScoreAdj
)

// Priority classes and values that make a pod critical.
const (
	SystemNodeCritical           = "system-node-critical"
	SystemClusterCritical        = "system-cluster-critical"
	SystemCriticalPriority int32 = 2000000000
	// Values the Priority admission plugin assigns to the built-in classes.
	SystemNodeCriticalPriority    int32 = SystemCriticalPriority + 1000
	SystemClusterCriticalPriority int32 = SystemCriticalPriority
)

// Annotations by which the kubelet recognises static and mirror pods.
const (
	ConfigSourceAnnotation = "kubernetes.io/config.source"
	ConfigMirrorAnnotation = "kubernetes.io/config.mirror"
	apiserverSource        = "api"
)

var qosResources = [...]v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory}

// PodQOSClass returns the pod's QoS class by the kubelet's rule: the value in
// status.qosClass when set; else pod-level resources when they name cpu,
// memory or hugepages; else every
// container (init containers included) must agree on Guaranteed (cpu and
// memory requests equal to non-zero limits) or BestEffort (neither set), and
// anything else is Burstable.
//
// A request missing where a limit is set counts as equal to the limit: the
// API server defaults it so before the kubelet ever sees the pod, and doing
// the same here gives the right answer for manifests read from disk.
func PodQOSClass(pod *v1.Pod) QOSClass {
	if pod == nil {
		return QOSBestEffort
	}
	if pod.Status.QOSClass != "" {
		return QOSClass(pod.Status.QOSClass)
	}
	if pod.Spec.Resources != nil && podLevelSet(pod.Spec.Resources) {
		return resourcesQOS(pod.Spec.Resources)
	}
	var qos QOSClass
	for _, list := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			c := resourcesQOS(&list[i].Resources)
			switch {
			case c == QOSBurstable:
				return QOSBurstable
			case qos == "":
				qos = c
			case qos != c:
				return QOSBurstable
			}
		}
	}
	if qos == "" {
		return QOSBestEffort
	}
	return qos
}

// resourcesQOS classifies one set of requirements over cpu and memory.
func resourcesQOS(r *v1.ResourceRequirements) QOSClass {
	if len(r.Requests) == 0 && len(r.Limits) == 0 {
		return QOSBestEffort
	}
	var qos QOSClass
	for _, name := range qosResources {
		lim, hasLim := r.Limits[name]
		req, hasReq := r.Requests[name]
		if !hasReq && hasLim {
			req = lim
		}
		if req.Cmp(lim) != 0 {
			return QOSBurstable
		}
		bestEffort := req.IsZero() && lim.IsZero()
		switch {
		case qos == "" && bestEffort:
			qos = QOSBestEffort
		case qos == "":
			qos = QOSGuaranteed
		case bestEffort != (qos == QOSBestEffort):
			return QOSBurstable
		}
	}
	return qos
}

// OOMScoreAdj is the kubelet's oom_score_adj for a container: -997 for
// node-critical pods and Guaranteed, 1000 for BestEffort, and for Burstable
// 1000 - 1000*memoryRequest/memoryCapacity (integer division) kept within
// [3, 999]. A non-positive capacity is treated as "request is everything"
// rather than dividing by zero.
func OOMScoreAdj(qos QOSClass, memoryRequest, memoryCapacity int64, nodeCritical bool) int {
	if nodeCritical {
		return GuaranteedOOMScoreAdj
	}
	switch qos {
	case QOSGuaranteed:
		return GuaranteedOOMScoreAdj
	case QOSBestEffort:
		return BestEffortOOMScoreAdj
	}
	if memoryCapacity <= 0 {
		return MinBurstableOOMScoreAdj
	}
	if memoryRequest < 0 {
		memoryRequest = 0
	}
	var adj int64
	if memoryRequest >= memoryCapacity {
		adj = 0
	} else if memoryRequest > (1<<63-1)/1000 {
		// 1000*request would overflow; the request is still below capacity,
		// so compute the same ratio without the overflowing product.
		adj = 1000 - memoryRequest/(memoryCapacity/1000)
	} else {
		adj = 1000 - (1000*memoryRequest)/memoryCapacity
	}
	if adj < MinBurstableOOMScoreAdj {
		return MinBurstableOOMScoreAdj
	}
	if adj == BestEffortOOMScoreAdj {
		return BestEffortOOMScoreAdj - 1
	}
	return int(adj)
}

// IsCriticalPod reports what the kubelet treats as critical: static pods,
// mirror pods, and pods with priority at or above SystemCriticalPriority.
func IsCriticalPod(pod *v1.Pod) bool {
	if pod == nil {
		return false
	}
	if src, ok := pod.Annotations[ConfigSourceAnnotation]; ok && src != apiserverSource {
		return true
	}
	if _, ok := pod.Annotations[ConfigMirrorAnnotation]; ok {
		return true
	}
	return pod.Spec.Priority != nil && *pod.Spec.Priority >= SystemCriticalPriority
}

// IsNodeCriticalPod is a critical pod in the system-node-critical class; only
// those share Guaranteed's oom_score_adj regardless of their QoS.
func IsNodeCriticalPod(pod *v1.Pod) bool {
	return IsCriticalPod(pod) && pod.Spec.PriorityClassName == SystemNodeCritical
}
