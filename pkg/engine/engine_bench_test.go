package engine_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/proto"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/test/bench/workload"
)

// BenchmarkDecide times one decision for the benchmark workload's request
// (a kubelet-shaped Burstable container) under policies of 10, 100 and
// 1000 rules in which the same workload.MatchedRules rules match: the rest
// select other namespaces (skipped by the namespace index) or are
// evaluated and fail to match. It reports the median and p99 of the
// per-decision times; allocs/op should be the same at every size, since
// rules that do not match must not allocate.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			pol := workload.MustPolicy(n)
			pod, c := workload.Request(0)
			// Decide reads the request and never changes it; a copy per call
			// would be measured too, so one is shared.
			req := &engine.Request{Pod: pod, Container: c, NodeName: "node-1"}
			if d := engine.Decide(pol, req); !d.Allowed || len(d.Rules) == 0 {
				b.Fatalf("unexpected decision: allowed=%v rules=%v reason=%q", d.Allowed, d.Rules, d.Reason)
			}
			before := proto.Clone(c).(*api.Container)
			times := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				engine.Decide(pol, req)
				times = append(times, time.Since(start))
			}
			b.StopTimer()
			if !proto.Equal(before, c) {
				b.Fatal("Decide changed the request")
			}
			slices.Sort(times)
			q := func(f float64) float64 {
				i := min(len(times)-1, max(0, int(f*float64(len(times))+0.999999)-1))
				return float64(times[i]) / float64(time.Microsecond)
			}
			b.ReportMetric(q(0.50), "p50-us")
			b.ReportMetric(q(0.99), "p99-us")
		})
	}
}
