package kubelet

import "testing"

const gi = int64(1) << 30

// oom_score_adj vectors (the kubelet's qos/policy.go), at 16 GiB capacity.
func TestOOMScoreAdj(t *testing.T) {
	capacity := 16 * gi
	cases := map[string]struct {
		qos          QOSClass
		request      int64
		nodeCritical bool
		want         int
	}{
		"burstable 512Mi":          {QOSBurstable, 512 << 20, false, 969},
		"burstable 1Gi":            {QOSBurstable, gi, false, 938},
		"burstable no request":     {QOSBurstable, 0, false, 999},
		"burstable whole node":     {QOSBurstable, 16 * gi, false, 3},
		"burstable over node":      {QOSBurstable, 32 * gi, false, 3},
		"guaranteed":               {QOSGuaranteed, 4 * gi, false, -997},
		"besteffort":               {QOSBestEffort, 0, false, 1000},
		"node-critical besteffort": {QOSBestEffort, 0, true, -997},
		"node-critical burstable":  {QOSBurstable, gi, true, -997},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := OOMScoreAdj(tc.qos, tc.request, capacity, tc.nodeCritical); got != tc.want {
				t.Errorf("OOMScoreAdj(%s, %d, %d, %v) = %d, want %d", tc.qos, tc.request, capacity, tc.nodeCritical, got, tc.want)
			}
		})
	}
}

func TestOOMScoreAdjOddInputs(t *testing.T) {
	if got := OOMScoreAdj(QOSBurstable, gi, 0, false); got != MinBurstableOOMScoreAdj {
		t.Errorf("zero capacity: got %d", got)
	}
	if got := OOMScoreAdj(QOSBurstable, 1<<62, 1<<62+1, false); got != MinBurstableOOMScoreAdj {
		t.Errorf("huge request: got %d", got)
	}
	if got := OOMScoreAdj(QOSBurstable, -1, gi, false); got != 999 {
		t.Errorf("negative request: got %d", got)
	}
}
