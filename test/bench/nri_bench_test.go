package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	"github.com/containerd/ttrpc"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"

	"github.com/specguard/specguard/internal/wire"
	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/facts"
	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/metrics"
	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
	"github.com/specguard/specguard/plugin"
	"github.com/specguard/specguard/test/bench/workload"
)

// noopPlugin implements CreateContainer and changes nothing: the cost of
// being an NRI plugin at all, the baseline specguard is held to.
type noopPlugin struct{}

func (noopPlugin) CreateContainer(context.Context, *api.PodSandbox, *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	return nil, nil, nil
}

// fixedPlugin replies with an adjustment computed beforehand: what the
// protocol alone costs for a reply of that size, with no decision made.
type fixedPlugin struct{ adj *api.ContainerAdjustment }

func (p fixedPlugin) CreateContainer(context.Context, *api.PodSandbox, *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	return p.adj, nil, nil
}

// startStub connects an in-process stub plugin to socket; extra options
// (wire.ReadLean) shape how it reads requests.
func startStub(tb testing.TB, socket, name string, p stub.Plugin, extra ...stub.Option) {
	tb.Helper()
	s, err := stub.New(p, append([]stub.Option{stub.WithSocketPath(socket), stub.WithPluginName(name), stub.WithPluginIdx("10"),
		stub.WithOnClose(func() {})}, extra...)...)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cancel(); s.Stop() })
}

// handlerTimes records how long specguard's own CreateContainer handler
// took (what it reports to its request-duration metric), so the table can
// tell specguard's time from the protocol's.
type handlerTimes struct {
	*metrics.Metrics
	mu sync.Mutex
	d  samples
}

func (h *handlerTimes) ObserveRequest(event, result string, d time.Duration) {
	h.Metrics.ObserveRequest(event, result, d)
	if event == "CreateContainer" {
		h.mu.Lock()
		h.d = append(h.d, d)
		h.mu.Unlock()
	}
}

// startSpecguard runs specguard in this process as `specguard run` wires
// it: the policy, a restart tracker with the log-directory fallback,
// Prometheus metrics, logrus at info level (text, discarded); exact is
// --exact-restart-counts.
func startSpecguard(tb testing.TB, socket string, pol *policy.Policy, rec plugin.Recorder, exact bool) {
	tb.Helper()
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetFormatter(&logrus.JSONFormatter{})
	l.SetLevel(logrus.InfoLevel)
	cfg := plugin.Config{Policy: policy.NewStaticStore(pol), Tracker: restarts.NewTracker(kubelet.RestartCountFromLogDir),
		Log: logrus.NewEntry(l), Recorder: rec, NodeName: "node-1", ExactRestartCounts: exact}
	// SPECGUARD_BENCH_LOG=warn drops the info-level audit log line of each
	// adjusted container: the figure that shows what the log costs.
	if lvl, err := logrus.ParseLevel(os.Getenv("SPECGUARD_BENCH_LOG")); err == nil {
		l.SetLevel(lvl)
	}
	p, err := plugin.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx, plugin.Connection{SocketPath: socket, Name: "specguard", Index: "90"})
	}()
	tb.Cleanup(func() { cancel(); <-done })
}

// validationSection makes specguard a validator of the other plugins'
// changes (it then subscribes to ValidateContainerAdjustment).
const validationSection = "  validation: {denyHooks: true, denyHostMounts: true, denyDevices: true}\n"

// BenchmarkCreateContainer times what containerd sends NRI plugins during
// one CRI CreateContainer, through the runtime half over a real socket,
// with every plugin in this process, where pprof sees all of it and the
// price of each part shows (BenchmarkCreateProcess times the same with
// each plugin its own process, as on a node, and holds the targets):
// CreateContainer (with ValidateContainerAdjustment inside it when a
// plugin validates), then PostCreateContainer, which the runtime half
// passes on to the plugins subscribed to it. One plugin per adaptation,
// all called in turn (in rotating order) so that all see the same machine
// at the same time:
//
//   - noop: a plugin that changes nothing and subscribes to CreateContainer
//     alone, the baseline;
//   - noop-lean: the same, reading requests as specguard does
//     (wire.ReadLean: without the seccomp policy's syscall rules, which
//     specguard never reads): what the decision costs on top of the same
//     reading;
//   - fixed: a plugin that replies with the adjustment specguard makes for
//     this request, computed beforehand: the protocol's cost for a reply of
//     that size (marshal, unmarshal, the runtime merging it), with no
//     decision made;
//   - specguard: plugin.New with the 100-rule workload policy, as deployed
//     by default (one request per creation);
//   - specguard-exact: the same with --exact-restart-counts (subscribed to
//     PostCreateContainer: two requests per creation);
//   - specguard-validating: the default with a validation section in the
//     policy (subscribed to ValidateContainerAdjustment: two requests).
//
// The request is a kubelet-shaped Burstable container (pkg/kubelet,
// pkg/criview), each time with a new container ID, the first of its pod:
// after each creation (untimed) the pod is removed, as pods come and go on
// a node, so that the kubelet's count (0) is never behind specguard's.
// Reported: each one's median and p99 for the whole creation, specguard's
// ratios to noop for the whole creation (ratio-*, the target), for
// CreateContainer alone (create-ratio-*), in the exact mode
// (exact-ratio-*) and validating (validating-ratio-*); specguard to
// noop-lean (lean-ratio-p50), fixed to noop (floor-ratio-*, the price of
// the reply's size) and specguard to fixed (own-ratio-p50); specguard's own
// handler time and the sizes of request and reply.
func BenchmarkCreateContainer(b *testing.B) {
	pol := workload.MustPolicy(100)
	validating, err := policy.Parse("workload-validating.yaml", append(workload.Policy(100), validationSection...))
	if err != nil {
		b.Fatal(err)
	}
	pod, c := workload.Request(0)

	rec := &handlerTimes{Metrics: metrics.New(metrics.BuildInfo{})}
	sgRT := newNRIRuntime(b, nil, nil)
	startSpecguard(b, sgRT.socket, pol, rec, false)
	sgRT.waitSynced(b, 10*time.Second)
	exactRT := newNRIRuntime(b, nil, nil)
	startSpecguard(b, exactRT.socket, pol, metrics.New(metrics.BuildInfo{}), true)
	exactRT.waitSynced(b, 10*time.Second)
	valRT := newNRIRuntime(b, nil, nil)
	startSpecguard(b, valRT.socket, validating, metrics.New(metrics.BuildInfo{}), false)
	valRT.waitSynced(b, 10*time.Second)
	// What specguard replies for this request (its restart count is the
	// kubelet's annotation, 0).
	want := engine.Decide(pol, &engine.Request{Pod: pod, Container: proto.Clone(c).(*api.Container), Facts: engine.Facts{Node: facts.NewNode("node-1")}}).Adjustment

	noopRT := newNRIRuntime(b, nil, nil)
	startStub(b, noopRT.socket, "noop", noopPlugin{})
	noopRT.waitSynced(b, 10*time.Second)
	leanRT := newNRIRuntime(b, nil, nil)
	startStub(b, leanRT.socket, "noop-lean", noopPlugin{},
		stub.WithTTRPCOptions(nil, []ttrpc.ServerOpt{ttrpc.WithUnaryServerInterceptor(wire.ReadLean)}))
	leanRT.waitSynced(b, 10*time.Second)
	fixedRT := newNRIRuntime(b, nil, nil)
	startStub(b, fixedRT.socket, "fixed", fixedPlugin{adj: want})
	fixedRT.waitSynced(b, 10*time.Second)

	if got := noopRT.create(b, pod, proto.Clone(c).(*api.Container)).GetAdjust(); len(got.GetAnnotations()) != 0 {
		b.Fatalf("the no-op plugin adjusted the container: %v", got)
	}
	fixedReply := fixedRT.create(b, pod, proto.Clone(c).(*api.Container)).GetAdjust()
	for i, rt := range []*nriRuntime{sgRT, exactRT, valRT} {
		got := rt.create(b, pod, proto.Clone(c).(*api.Container)).GetAdjust()
		if got.GetAnnotations()["specguard.io/rules"] == "" {
			b.Fatalf("specguard (%d) did not adjust the container: %v", i, got)
		}
		if !proto.Equal(got, fixedReply) {
			b.Fatalf("specguard's (%d) reply differs from the fixed plugin's:\n%v\n%v", i, got, fixedReply)
		}
		rt.removePod(b, pod)
	}

	type condition struct {
		rt            *nriRuntime
		whole, create samples
	}
	conds := []*condition{{rt: noopRT}, {rt: leanRT}, {rt: fixedRT}, {rt: sgRT}, {rt: exactRT}, {rt: valRT}}
	seq := 0
	// The runtime half applies each plugin's adjustment to the request it
	// was given, as containerd's CreateContainer builds a new one per call.
	call := func(k *condition) {
		ctr := proto.Clone(c).(*api.Container)
		seq++
		ctr.Id = fmt.Sprintf("%064x", seq)
		start := time.Now()
		k.rt.create(b, pod, ctr)
		created := time.Now()
		k.rt.postCreate(b, pod, ctr)
		end := time.Now()
		k.create = append(k.create, created.Sub(start))
		k.whole = append(k.whole, end.Sub(start))
		k.rt.removePod(b, pod)
	}
	for n := range 300 { // warm up connections, caches and the GC pacer
		call(conds[n%len(conds)])
	}
	rec.mu.Lock()
	rec.d = rec.d[:0]
	rec.mu.Unlock()
	for _, k := range conds {
		k.whole, k.create = make(samples, 0, b.N), make(samples, 0, b.N)
	}

	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for i := range conds {
			call(conds[(n+i)%len(conds)])
		}
	}
	b.StopTimer()

	noop, noopLean, fixed, sg, exact, val := conds[0], conds[1], conds[2], conds[3], conds[4], conds[5]
	reportQuantiles(b, "noop-", noop.whole)
	reportQuantiles(b, "noop-lean-", noopLean.whole)
	reportQuantiles(b, "fixed-", fixed.whole)
	reportQuantiles(b, "specguard-", sg.whole)
	reportQuantiles(b, "specguard-exact-", exact.whole)
	reportQuantiles(b, "specguard-validating-", val.whole)
	ratio := func(a, b time.Duration) float64 { return float64(a) / float64(b) }
	b.ReportMetric(ratio(sg.whole.p50(), noop.whole.p50()), "ratio-p50")
	b.ReportMetric(ratio(sg.whole.p99(), noop.whole.p99()), "ratio-p99")
	b.ReportMetric(ratio(sg.create.p50(), noop.create.p50()), "create-ratio-p50")
	b.ReportMetric(ratio(sg.create.p99(), noop.create.p99()), "create-ratio-p99")
	b.ReportMetric(ratio(exact.whole.p50(), noop.whole.p50()), "exact-ratio-p50")
	b.ReportMetric(ratio(exact.whole.p99(), noop.whole.p99()), "exact-ratio-p99")
	b.ReportMetric(ratio(val.whole.p50(), noop.whole.p50()), "validating-ratio-p50")
	b.ReportMetric(ratio(val.whole.p99(), noop.whole.p99()), "validating-ratio-p99")
	b.ReportMetric(ratio(fixed.whole.p50(), noop.whole.p50()), "floor-ratio-p50")
	b.ReportMetric(ratio(fixed.whole.p99(), noop.whole.p99()), "floor-ratio-p99")
	// specguard over a plugin sending the same reply: what deciding costs
	// beyond the protocol's price for the reply.
	b.ReportMetric(ratio(sg.whole.p50(), fixed.whole.p50()), "own-ratio-p50")
	b.ReportMetric(ratio(sg.whole.p50(), noopLean.whole.p50()), "lean-ratio-p50")
	rec.mu.Lock()
	reportQuantiles(b, "handler-", rec.d)
	rec.mu.Unlock()
	b.ReportMetric(float64(proto.Size(&api.CreateContainerResponse{Adjust: want})), "reply-B")
	b.ReportMetric(float64(proto.Size(&api.CreateContainerRequest{Pod: pod, Container: c})), "request-B")
}
