package podgen

import (
	v1 "k8s.io/api/core/v1"

	"github.com/specguard/specguard/pkg/kubelet"
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
func PodQOSClass(pod *v1.Pod) kubelet.QOSClass {
	if pod == nil {
		return kubelet.QOSBestEffort
	}
	if pod.Status.QOSClass != "" {
		return kubelet.QOSClass(pod.Status.QOSClass)
	}
	if pod.Spec.Resources != nil && podLevelSet(pod.Spec.Resources) {
		return resourcesQOS(pod.Spec.Resources)
	}
	var qos kubelet.QOSClass
	for _, list := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			c := resourcesQOS(&list[i].Resources)
			switch {
			case c == kubelet.QOSBurstable:
				return kubelet.QOSBurstable
			case qos == "":
				qos = c
			case qos != c:
				return kubelet.QOSBurstable
			}
		}
	}
	if qos == "" {
		return kubelet.QOSBestEffort
	}
	return qos
}

// resourcesQOS classifies one set of requirements over cpu and memory.
func resourcesQOS(r *v1.ResourceRequirements) kubelet.QOSClass {
	if len(r.Requests) == 0 && len(r.Limits) == 0 {
		return kubelet.QOSBestEffort
	}
	var qos kubelet.QOSClass
	for _, name := range qosResources {
		lim, hasLim := r.Limits[name]
		req, hasReq := r.Requests[name]
		if !hasReq && hasLim {
			req = lim
		}
		if req.Cmp(lim) != 0 {
			return kubelet.QOSBurstable
		}
		bestEffort := req.IsZero() && lim.IsZero()
		switch {
		case qos == "" && bestEffort:
			qos = kubelet.QOSBestEffort
		case qos == "":
			qos = kubelet.QOSGuaranteed
		case bestEffort != (qos == kubelet.QOSBestEffort):
			return kubelet.QOSBurstable
		}
	}
	return qos
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
