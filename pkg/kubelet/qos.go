package kubelet

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
