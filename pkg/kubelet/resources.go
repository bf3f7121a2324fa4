package kubelet

// CPU constants of the kubelet's container manager (pkg/kubelet/cm).
// Periods and quotas are in microseconds.
const (
	MinShares      = 2
	MaxShares      = 262144
	SharesPerCPU   = 1024
	MilliCPUToCPU  = 1000
	QuotaPeriod    = 100000
	MinQuotaPeriod = 1000
)

// MilliCPUToShares converts milli-CPUs to cgroup v1 cpu.shares:
// 0 -> MinShares, else milli*1024/1000 clamped to [MinShares, MaxShares].
// Negative input (impossible for a valid pod) yields MinShares.
func MilliCPUToShares(milliCPU int64) uint64 {
	if milliCPU <= 0 {
		return MinShares
	}
	// Anything above this already clamps to MaxShares; checking first keeps
	// milli*1024 from overflowing.
	if milliCPU >= MaxShares*MilliCPUToCPU/SharesPerCPU+1 {
		return MaxShares
	}
	shares := milliCPU * SharesPerCPU / MilliCPUToCPU
	if shares < MinShares {
		return MinShares
	}
	if shares > MaxShares {
		return MaxShares
	}
	return uint64(shares)
}

// MilliCPUToQuota converts a milli-CPU limit to a CFS quota for period:
// 0 -> 0 (no quota), else max(milli*period/1000, MinQuotaPeriod).
// Results that would overflow int64 saturate instead of wrapping.
func MilliCPUToQuota(milliCPU, period int64) int64 {
	if milliCPU == 0 {
		return 0
	}
	var quota int64
	if period != 0 && milliCPU > 0 && period > 0 && milliCPU > (1<<63-1)/period {
		quota = (1<<63 - 1) / MilliCPUToCPU
	} else {
		quota = milliCPU * period / MilliCPUToCPU
	}
	if quota < MinQuotaPeriod {
		quota = MinQuotaPeriod
	}
	return quota
}
