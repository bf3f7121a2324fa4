package bench

import (
	"context"
	"io"
	"testing"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/facts"
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

// BenchmarkValidateHandler calls the validation engine directly on the
// request the runtime sends validators for the workload container:
// specguard's own reply merged, each field claimed by 90-specguard, and
// a topology plugin's CPU set. Its share of specguard-validating in
// BenchmarkCreateContainer: the deny checks, the decision on the pristine
// container again and on the final one.
func BenchmarkValidateHandler(b *testing.B) {
	pol, err := policy.Parse("workload-validating.yaml", append(workload.Policy(100), validationSection...))
	if err != nil {
		b.Fatal(err)
	}
	pod, c := workload.Request(0)
	node := facts.NewNode("node-1")
	d := engine.Decide(pol, &engine.Request{Pod: pod, Container: c, Facts: engine.Facts{Node: node}})
	adj := proto.Clone(d.Adjustment).(*api.ContainerAdjustment)
	owners := api.NewOwningPlugins()
	for k := range adj.GetAnnotations() {
		owners.ClaimAnnotation(c.GetId(), k, "90-specguard")
	}
	for _, e := range adj.GetEnv() {
		owners.ClaimEnv(c.GetId(), e.GetKey(), "90-specguard")
	}
	for _, m := range adj.GetMounts() {
		owners.ClaimMount(c.GetId(), m.GetDestination(), "90-specguard")
	}
	adj.SetLinuxCPUSetCPUs("0-1") // no rule sets it: a topology plugin's to choose
	owners.ClaimCPUSetCPUs(c.GetId(), "50-other")
	req := &api.ValidateContainerAdjustmentRequest{Pod: pod, Container: c, Adjust: adj, Owners: owners,
		Plugins: []*api.PluginInstance{{Name: "other", Index: "50"}, {Name: "specguard", Index: "90"}}}
	vr := engine.Validator{Self: "90-specguard", Node: node}
	if findings, err := engine.ValidateAdjustmentAs(pol, req, vr); err != nil || len(findings) > 0 {
		b.Fatalf("the workload's own adjustment is refused: %v %v", findings, err)
	}
	times := make(samples, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := nowFn()
		engine.ValidateAdjustmentAs(pol, req, vr)
		times = append(times, sinceFn(start))
	}
	b.StopTimer()
	reportQuantiles(b, "", times)
}
