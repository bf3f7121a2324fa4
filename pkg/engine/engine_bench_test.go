package engine_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/proto"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/facts"
	"github.com/specguard/specguard/test/bench/workload"
)

// BenchmarkDecide times one decision for the benchmark workload's request
// (a kubelet-shaped Burstable container) under policies of 10, 100 and
// 1000 rules in which the same workload.MatchedRules rules match: the rest
// select other namespaces (skipped by the namespace index) or are
// evaluated and fail to match. It reports the median and p99 of the
// per-decision times; allocs/op should be the same at every size, since
// rules that do not match must not allocate.
//
// Each decision is followed by a CPU loop calibrated to the decision's
// median, timed the same way (cpu-p50-us, cpu-p99-us): the tail the
// machine itself adds to any computation of that length in the same run,
// the baseline a p99 in microseconds can be read against. ns/op is the
// decisions' mean alone; the loop allocates nothing, so B/op and
// allocs/op are the decision's.
func BenchmarkDecide(b *testing.B) {
	node := facts.NewNode("node-1")
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			pol := workload.MustPolicy(n)
			pod, c := workload.Request(0)
			// Decide reads the request and never changes it; a copy per call
			// would be measured too, so one is shared.
			req := &engine.Request{Pod: pod, Container: c, Facts: engine.Facts{Node: node}}
			if d := engine.Decide(pol, req); !d.Allowed || len(d.Rules) == 0 {
				b.Fatalf("unexpected decision: allowed=%v rules=%v reason=%q", d.Allowed, d.Rules, d.Reason)
			}
			before := proto.Clone(c).(*api.Container)
			spins := calibrate(func() { engine.Decide(pol, req) })
			times := make([]time.Duration, 0, b.N)
			loops := make([]time.Duration, 0, b.N)
			var total time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				engine.Decide(pol, req)
				d := time.Since(start)
				times = append(times, d)
				total += d
				start = time.Now()
				spin(spins)
				loops = append(loops, time.Since(start))
			}
			b.StopTimer()
			if !proto.Equal(before, c) {
				b.Fatal("Decide changed the request")
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/op")
			b.ReportMetric(quantileUS(times, 0.50), "p50-us")
			b.ReportMetric(quantileUS(times, 0.99), "p99-us")
			b.ReportMetric(quantileUS(loops, 0.50), "cpu-p50-us")
			b.ReportMetric(quantileUS(loops, 0.99), "cpu-p99-us")
		})
	}
}

func quantileUS(s []time.Duration, q float64) float64 {
	s = slices.Clone(s)
	slices.Sort(s)
	i := min(len(s)-1, max(0, int(q*float64(len(s))+0.999999)-1))
	return float64(s[i]) / float64(time.Microsecond)
}

var spinSink uint64

// spin is a CPU loop that neither allocates nor touches memory.
func spin(n int) {
	x := uint64(n)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	spinSink += x
}

// calibrate returns the spin count whose median time matches f's.
func calibrate(f func()) int {
	median := func(g func()) time.Duration {
		t := make([]time.Duration, 301)
		for i := range t {
			start := time.Now()
			g()
			t[i] = time.Since(start)
		}
		slices.Sort(t)
		return t[len(t)/2]
	}
	target := median(f)
	n := 1000
	for range 8 {
		got := median(func() { spin(n) })
		if got <= 0 {
			n *= 2
			continue
		}
		n = max(1, int(float64(n)*float64(target)/float64(got)))
	}
	return n
}
