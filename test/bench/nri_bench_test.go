package bench

import (
	"context"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	"github.com/containerd/ttrpc"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"

	"github.com/specguard/specguard/pkg/engine"
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
// (plugin.ReadLean) shape how it reads requests.
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
// Prometheus metrics, logrus at info level (text, discarded).
func startSpecguard(tb testing.TB, socket string, pol *policy.Policy, rec plugin.Recorder) {
	tb.Helper()
	var ptr atomic.Pointer[policy.Policy]
	ptr.Store(pol)
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetFormatter(&logrus.JSONFormatter{})
	l.SetLevel(logrus.InfoLevel)
	cfg := plugin.Config{Policy: &ptr, Tracker: restarts.NewTracker(kubelet.RestartCountFromLogDir),
		Log: logrus.NewEntry(l), Recorder: rec, NodeName: "node-1"}
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

// BenchmarkCreateContainer times CreateContainer through the runtime half
// over a real socket, one plugin per adaptation, called in turn (in
// rotating order) so that all see the same machine at the same time:
//
//   - noop: a plugin that changes nothing, the baseline (PRODUCT.md's
//     target is specguard over this);
//   - noop-lean: the same, reading requests as specguard does
//     (plugin.ReadLean: without the seccomp policy's syscall rules, which
//     specguard never reads): what the decision costs on top of the same
//     reading;
//   - fixed: a plugin that replies with the adjustment specguard makes for
//     this request, computed beforehand: the protocol's cost for a reply of
//     that size (marshal, unmarshal, the runtime merging it), with no
//     decision made;
//   - specguard: plugin.New with the 100-rule workload policy.
//
// The request is a kubelet-shaped Burstable container (pkg/kubelet,
// pkg/criview). Reported: each one's median and p99, specguard's ratios to
// noop (ratio-*, the target), to noop-lean (lean-ratio-p50) and fixed's to
// noop (floor-ratio-*, the price of the reply's size), specguard's own
// handler time and the sizes of request and reply.
func BenchmarkCreateContainer(b *testing.B) {
	pol := workload.MustPolicy(100)
	pod, c := workload.Request(0)

	rec := &handlerTimes{Metrics: metrics.New(metrics.BuildInfo{})}
	sgRT := newNRIRuntime(b, nil, nil)
	startSpecguard(b, sgRT.socket, pol, rec)
	sgRT.waitSynced(b, 10*time.Second)
	if got := sgRT.create(b, pod, proto.Clone(c).(*api.Container)).GetAdjust(); got.GetAnnotations()["specguard.io/rules"] == "" {
		b.Fatalf("specguard did not adjust the container: %v", got)
	}
	// What specguard replies for this request (its restart count is the
	// kubelet's annotation, 0).
	want := engine.Decide(pol, &engine.Request{Pod: pod, Container: proto.Clone(c).(*api.Container), NodeName: "node-1"}).Adjustment

	noopRT := newNRIRuntime(b, nil, nil)
	startStub(b, noopRT.socket, "noop", noopPlugin{})
	noopRT.waitSynced(b, 10*time.Second)
	leanRT := newNRIRuntime(b, nil, nil)
	startStub(b, leanRT.socket, "noop-lean", noopPlugin{},
		stub.WithTTRPCOptions(nil, []ttrpc.ServerOpt{ttrpc.WithUnaryServerInterceptor(plugin.ReadLean)}))
	leanRT.waitSynced(b, 10*time.Second)
	fixedRT := newNRIRuntime(b, nil, nil)
	startStub(b, fixedRT.socket, "fixed", fixedPlugin{adj: want})
	fixedRT.waitSynced(b, 10*time.Second)
	if got := noopRT.create(b, pod, proto.Clone(c).(*api.Container)).GetAdjust(); len(got.GetAnnotations()) != 0 {
		b.Fatalf("the no-op plugin adjusted the container: %v", got)
	}
	if got, sg := fixedRT.create(b, pod, proto.Clone(c).(*api.Container)).GetAdjust(), sgRT.create(b, pod, proto.Clone(c).(*api.Container)).GetAdjust(); !proto.Equal(got, sg) {
		b.Fatalf("the fixed plugin's reply differs from specguard's:\n%v\n%v", got, sg)
	}

	rts := []*nriRuntime{noopRT, leanRT, fixedRT, sgRT}
	times := make([]samples, len(rts))
	// The runtime half applies each plugin's adjustment to the request it
	// was given, as containerd's CreateContainer builds a new one per call.
	call := func(i int) {
		ctr := proto.Clone(c).(*api.Container)
		start := time.Now()
		rts[i].create(b, pod, ctr)
		times[i] = append(times[i], time.Since(start))
	}
	for n := range 300 { // warm up connections, caches and the GC pacer
		call(n % len(rts))
	}
	rec.mu.Lock()
	rec.d = rec.d[:0]
	rec.mu.Unlock()
	for i := range times {
		times[i] = make(samples, 0, b.N)
	}

	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for k := range rts {
			call((n + k) % len(rts))
		}
	}
	b.StopTimer()

	noop, noopLean, fixed, sg := times[0], times[1], times[2], times[3]
	reportQuantiles(b, "noop-", noop)
	reportQuantiles(b, "noop-lean-", noopLean)
	reportQuantiles(b, "fixed-", fixed)
	reportQuantiles(b, "specguard-", sg)
	b.ReportMetric(float64(sg.p50())/float64(noop.p50()), "ratio-p50")
	b.ReportMetric(float64(sg.p99())/float64(noop.p99()), "ratio-p99")
	b.ReportMetric(float64(fixed.p50())/float64(noop.p50()), "floor-ratio-p50")
	b.ReportMetric(float64(fixed.p99())/float64(noop.p99()), "floor-ratio-p99")
	// specguard over a plugin sending the same reply: what deciding costs
	// beyond the protocol's price for the reply.
	b.ReportMetric(float64(sg.p50())/float64(fixed.p50()), "own-ratio-p50")
	b.ReportMetric(float64(sg.p50())/float64(noopLean.p50()), "lean-ratio-p50")
	rec.mu.Lock()
	reportQuantiles(b, "handler-", rec.d)
	rec.mu.Unlock()
	b.ReportMetric(float64(proto.Size(&api.CreateContainerResponse{Adjust: want})), "reply-B")
	b.ReportMetric(float64(proto.Size(&api.CreateContainerRequest{Pod: pod, Container: c})), "request-B")
}
