package cluster

import (
	"testing"
	"time"
)

// A line of the kubelet v1.37.2's log, as BenchmarkPodStartup reads it.
const observedLine = `I1206 02:50:12.190737     742 pod_startup_latency_tracker.go:144] "Observed pod startup duration" pod="sg-e2e/crashloop" podStartSLOduration=5.190694572 podStartE2EDuration="5.190694572s" totalImagesPullingTime="0s" totalInitContainerRuntime="0s" isStatefulPod=false podCreationTimestamp="2026-12-06 02:50:07 +0000 UTC" imagePullSessionsCount=0 imagePullSessionsStartsCount=0 observedRunningTime="2026-12-06 02:50:10.093737911 +0000 UTC m=+30.630635822" watchObservedRunningTime="2026-12-06 02:50:12.190694572 +0000 UTC m=+32.727592483"`

func TestKubeletLogValues(t *testing.T) {
	for key, want := range map[string]string{
		"pod":                      "sg-e2e/crashloop",
		"podStartSLOduration":      "5.190694572",
		"isStatefulPod":            "false",
		"podCreationTimestamp":     "2026-12-06 02:50:07 +0000 UTC",
		"watchObservedRunningTime": "2026-12-06 02:50:12.190694572 +0000 UTC m=+32.727592483",
	} {
		if got, ok := logValue(observedLine, key); !ok || got != want {
			t.Errorf("%s = %q, %v; want %q", key, got, ok, want)
		}
	}
	if _, ok := logValue(observedLine, "missing"); ok {
		t.Error("a missing key was found")
	}
	v, _ := logValue(observedLine, "watchObservedRunningTime")
	got, err := parseLogTime(v)
	if want := time.Date(2026, 12, 6, 2, 50, 12, 190694572, time.UTC); err != nil || !got.Equal(want) {
		t.Errorf("parseLogTime(%q) = %v, %v; want %v", v, got, err, want)
	}
	v, _ = logValue(observedLine, "podCreationTimestamp")
	if got, err := parseLogTime(v); err != nil || !got.Equal(time.Date(2026, 12, 6, 2, 50, 7, 0, time.UTC)) {
		t.Errorf("parseLogTime(%q) = %v, %v", v, got, err)
	}
}

func TestQuantileAndMean(t *testing.T) {
	var s []time.Duration
	for i := 10; i >= 1; i-- {
		s = append(s, time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0.5: 5, 0.9: 9, 1: 10, 0.01: 1} {
		if got := quantile(s, q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if got := mean(s); got != 5 { // 55/10, truncated
		t.Errorf("mean = %v, want 5", got)
	}
	if quantile(nil, 0.5) != 0 || mean(nil) != 0 {
		t.Error("empty samples")
	}
}
