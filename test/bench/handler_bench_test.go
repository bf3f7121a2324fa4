package bench

import (
	"context"
	"io"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/metrics"
	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
	"github.com/specguard/specguard/plugin"
	"github.com/specguard/specguard/test/bench/workload"
)

// BenchmarkHandler calls specguard's CreateContainer handler directly, with
// no socket: the plugin's own share of BenchmarkCreateContainer (restart
// count, deadline, engine, metrics, audit log), for profiling it alone.
// allocs/op includes RemovePodSandbox's, which allocates nothing.
func BenchmarkHandler(b *testing.B) {
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetFormatter(&logrus.JSONFormatter{})
	p, err := plugin.New(plugin.Config{Policy: policy.NewStaticStore(workload.MustPolicy(100)), Tracker: restarts.NewTracker(kubelet.RestartCountFromLogDir),
		Log: logrus.NewEntry(l), Recorder: metrics.New(metrics.BuildInfo{}), NodeName: "node-1"})
	if err != nil {
		b.Fatal(err)
	}
	pod, c := workload.Request(0)
	ctx := context.Background()
	times := make(samples, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := nowFn()
		if _, _, err := p.CreateContainer(ctx, pod, c); err != nil {
			b.Fatal(err)
		}
		times = append(times, sinceFn(start))
		// The pod goes, as in BenchmarkCreateContainer: the kubelet's count
		// (0) is then never behind the one specguard committed.
		if err := p.RemovePodSandbox(ctx, pod); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportQuantiles(b, "", times)
}
