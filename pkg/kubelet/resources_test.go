package kubelet

import (
	"math"
	"testing"
)

// Vectors of the kubelet's Linux resource formulas (period 100000),
// checked against its own code by make parity (docs/kubelet-parity.md).
func TestMilliCPUToSharesAndQuota(t *testing.T) {
	cases := map[string]struct {
		milli  int64
		shares uint64
		quota  int64
	}{
		"zero":     {0, 2, 0},
		"1m":       {1, 2, 1000},
		"10m":      {10, 10, 1000},
		"100m":     {100, 102, 10000},
		"250m":     {250, 256, 25000},
		"500m":     {500, 512, 50000},
		"1 cpu":    {1000, 1024, 100000},
		"1.5 cpu":  {1500, 1536, 150000},
		"4 cpu":    {4000, 4096, 400000},
		"max edge": {256000, 262144, 25600000},
		"over max": {256001, 262144, 25600100},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := MilliCPUToShares(tc.milli); got != tc.shares {
				t.Errorf("MilliCPUToShares(%d) = %d, want %d", tc.milli, got, tc.shares)
			}
			if got := MilliCPUToQuota(tc.milli, QuotaPeriod); got != tc.quota {
				t.Errorf("MilliCPUToQuota(%d, %d) = %d, want %d", tc.milli, QuotaPeriod, got, tc.quota)
			}
		})
	}
}

func TestCPUFormulasNeverOverflow(t *testing.T) {
	if got := MilliCPUToShares(math.MaxInt64); got != MaxShares {
		t.Errorf("shares(MaxInt64) = %d, want %d", got, MaxShares)
	}
	if got := MilliCPUToShares(-5); got != MinShares {
		t.Errorf("shares(-5) = %d, want %d", got, MinShares)
	}
	if got := MilliCPUToQuota(math.MaxInt64, QuotaPeriod); got <= 0 {
		t.Errorf("quota(MaxInt64) = %d, want positive", got)
	}
	if got := MilliCPUToQuota(1, 0); got != MinQuotaPeriod {
		t.Errorf("quota(1, 0) = %d, want %d", got, MinQuotaPeriod)
	}
}
