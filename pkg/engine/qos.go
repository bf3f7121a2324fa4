package engine

import (
	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/kubelet"
)

// QOSClassOf infers a container's QoS class from the Linux resources the
// kubelet derived for it: a CPU quota with the shares of an equal request
// and a memory limit is Guaranteed; minimal shares with no limits is
// BestEffort; anything else is Burstable. oom_score_adj is not used: with
// restrict_oom_score_adj the runtime may have raised it.
func QOSClassOf(c *api.Container) kubelet.QOSClass {
	var shares uint64
	var quota, period, memLimit int64
	if r := c.GetLinux().GetResources(); r != nil {
		shares = r.GetCpu().GetShares().GetValue()
		quota = r.GetCpu().GetQuota().GetValue()
		period = int64(r.GetCpu().GetPeriod().GetValue())
		memLimit = r.GetMemory().GetLimit().GetValue()
	}
	if memLimit <= 0 && quota <= 0 {
		if shares <= kubelet.MinShares {
			return kubelet.QOSBestEffort
		}
		return kubelet.QOSBurstable
	}
	if memLimit > 0 && quota > 0 {
		if period <= 0 {
			period = kubelet.QuotaPeriod
		}
		limitMilli := quota * kubelet.MilliCPUToCPU / period
		if kubelet.MilliCPUToShares(limitMilli) == shares {
			return kubelet.QOSGuaranteed
		}
	}
	return kubelet.QOSBurstable
}
