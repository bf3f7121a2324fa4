package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/specguard/specguard/test/bench/workload"
	"github.com/specguard/specguard/test/e2e/harness"
)

// requireStack fails the benchmark (skips it with SPECGUARD_E2E_SKIP=1, as
// the e2e tests do) when this machine cannot run the e2e stack.
func requireStack(b *testing.B) harness.Tools {
	b.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	tools := harness.DefaultTools(root)
	if err := errors.Join(harness.CheckHost(), tools.Check()); err != nil {
		msg := fmt.Sprintf("the containerd benchmark needs root, cgroups, `make tools` and `make build`:\n%v", err)
		if os.Getenv("SPECGUARD_E2E_SKIP") == "1" {
			b.Skip(msg)
		}
		b.Fatal(msg + "\n(set SPECGUARD_E2E_SKIP=1 to skip instead)")
	}
	return tools
}

// criConfig converts a config in the JSON form the harness builds for
// crictl into its CRI message, as crictl does.
func criConfig[T any](b *testing.B, v map[string]any) *T {
	b.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	out := new(T)
	if err := json.Unmarshal(raw, out); err != nil {
		b.Fatal(err)
	}
	return out
}

// containerdRound is how many creations are timed in a row in one
// condition before switching to the next.
const containerdRound = 10

// countingNoop is a no-op NRI plugin that counts the CreateContainer
// requests it gets and keeps the size of the last one.
type countingNoop struct {
	calls, requestBytes atomic.Int64
}

func (p *countingNoop) count() int64 { return p.calls.Load() }

// noopEvents is a no-op plugin subscribed to the events specguard
// subscribes to with --exact-restart-counts: containerd calls
// PostCreateContainer inside CRI CreateContainer, so that round trip is
// part of the create latency.
type noopEvents struct{ countingNoop }

func (*noopEvents) PostCreateContainer(context.Context, *api.PodSandbox, *api.Container) error {
	return nil
}
func (*noopEvents) RemoveContainer(context.Context, *api.PodSandbox, *api.Container) error {
	return nil
}
func (*noopEvents) RemovePodSandbox(context.Context, *api.PodSandbox) error { return nil }

func (p *countingNoop) CreateContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	p.calls.Add(1)
	p.requestBytes.Store(int64(proto.Size(&api.CreateContainerRequest{Pod: pod, Container: c})))
	return nil, nil, nil
}

// BenchmarkContainerdCreate times CRI CreateContainer on a real containerd
// (the e2e stack of test/e2e/harness: containerd 2.4.2, runc, NRI enabled)
// in seven conditions, in rotating rounds of containerdRound creations so
// that all see the same machine:
//
//   - without: no NRI plugin connected (containerd then skips NRI);
//   - noop: a no-op NRI plugin (in this process) connected, subscribed to
//     CreateContainer alone: what NRI costs;
//   - noop-events: the same, subscribed to what specguard takes with
//     --exact-restart-counts (containerd calls PostCreateContainer inside
//     CRI CreateContainer);
//   - noop-process: cmd/noopplugin, the no-op plugin (CreateContainer
//     alone) as its own process, as runtimes run plugins and as specguard
//     runs: what NRI costs a plugin process (BenchmarkCreateProcess's
//     baseline);
//   - specguard: the built binary on the 100-rule workload policy, JSON
//     logs at info level as deployed (a line per adjusted container);
//   - specguard-exact: the same with --exact-restart-counts;
//   - specguard-warn: the default at --log-level warn (no line per
//     container).
//
// Each creation is one gRPC call from this process, as the kubelet makes
// it, of a kubelet-shaped container (labels, restart-count annotation,
// resources, non-root, RuntimeDefault seccomp) into a pod of the workload's
// namespace and labels; it is removed (untimed) before the next. b.N
// creations are timed in each condition. The target is specguard against
// without (ratio-*); specguard against noop (own-ratio-p50) is the share of
// specguard's decision and adjustment plus being a process of its own,
// specguard against noop-process (process-own-ratio-p50) without the
// latter, specguard-exact against noop-events
// (exact-own-ratio-p50) the same in the exact mode.
func BenchmarkContainerdCreate(b *testing.B) {
	tools := requireStack(b)
	s, err := harness.Start(harness.Options{Tools: tools, Owner: os.Getpid(), Logf: b.Logf})
	if err != nil {
		b.Fatalf("starting containerd: %v", err)
	}
	b.Cleanup(func() {
		if b.Failed() {
			b.Logf("containerd log:\n%s", harness.Tail(s.ContainerdLog(), 25))
			b.Logf("specguard log:\n%s", harness.Tail(s.SpecguardLog(), 25))
		}
		if err := s.Down(); err != nil {
			b.Errorf("cleanup: %v", err)
		}
	})

	// The stack's pods use the host network (no CNI here), which the
	// workload's tenant-safety-net rule would refuse; every other check
	// stays on.
	deny := "hostNamespaces: deny\n      hostPaths"
	pol := string(workload.Policy(100))
	if !strings.Contains(pol, deny) {
		b.Fatalf("the workload policy's tenant-safety-net rule no longer has %q", deny)
	}
	pol = strings.Replace(pol, deny, "hostNamespaces: allow\n      hostPaths", 1)
	policyPath := filepath.Join(s.Dir, "policy.yaml")
	if err := os.WriteFile(policyPath, []byte(pol), 0o644); err != nil {
		b.Fatal(err)
	}

	conn, err := grpc.NewClient("unix://"+s.Socket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	cri := runtimeapi.NewRuntimeServiceClient(conn)
	ctx := context.Background()

	podJSON := s.PodConfig(harness.Pod{Name: "web-bench", Namespace: workload.Namespace,
		Labels: map[string]string{"app": "web", "team": "blue"}})
	podID, err := s.RunPod(podJSON)
	if err != nil {
		b.Fatalf("running the pod: %v", err)
	}
	podCfg := criConfig[runtimeapi.PodSandboxConfig](b, podJSON)

	attempt := 0
	create := func() (string, time.Duration) {
		cfg := criConfig[runtimeapi.ContainerConfig](b, s.ContainerConfig(podJSON, harness.Container{
			Name: workload.ContainerName, Attempt: attempt,
			Env:         map[string]string{"LOG_LEVEL": "info", "GOMAXPROCS": "1", "CACHE_SIZE": "64Mi"},
			Annotations: map[string]string{"io.kubernetes.container.restartCount": fmt.Sprint(attempt)},
			Resources: map[string]any{"cpu_shares": 256, "cpu_quota": 100000, "cpu_period": 100000,
				"memory_limit_in_bytes": 512 << 20, "oom_score_adj": 999},
			SecurityContext: map[string]any{"run_as_user": map[string]any{"value": 65534},
				"seccomp": map[string]any{"profile_type": 0}},
		}))
		attempt++
		start := time.Now()
		resp, err := cri.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: podCfg})
		d := time.Since(start)
		if err != nil {
			b.Fatalf("CreateContainer: %v", err)
		}
		return resp.GetContainerId(), d
	}
	remove := func(id string) {
		if _, err := cri.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
			b.Fatalf("RemoveContainer: %v", err)
		}
	}
	adjusted := func(id string) bool {
		ci, err := s.Inspect(id)
		if err != nil {
			b.Fatal(err)
		}
		_, ok := ci.Info.RuntimeSpec.Annotations[harness.AnnotationRestartCount]
		return ok
	}

	type condition struct {
		name        string
		start, stop func()
		check       func(id string) // on a container of each round
		times       samples
	}
	// noopCondition connects p (in this process) for the round.
	noopCondition := func(name string, p interface {
		stub.Plugin
		count() int64
	}) *condition {
		var stop func()
		return &condition{name: name, start: func() {
			ctx, cancel := context.WithCancel(context.Background())
			st, err := stub.New(p, stub.WithSocketPath(s.NRISocket()), stub.WithPluginName(name), stub.WithPluginIdx("10"),
				stub.WithOnClose(func() {}))
			if err != nil {
				b.Fatal(err)
			}
			if err := st.Start(ctx); err != nil {
				b.Fatal(err)
			}
			stop = func() { cancel(); st.Stop() }
		}, stop: func() { stop() }, check: func(string) {
			if p.count() == 0 {
				b.Fatalf("the %s plugin saw no CreateContainer", name)
			}
		}}
	}
	// noopProcessCondition runs cmd/noopplugin as its own process for the
	// round, as the runtime runs specguard.
	noopBin := noopPluginBinary(b, s.Dir)
	noopProcessCondition := func(name string) *condition {
		var stop func()
		ready := filepath.Join(s.Dir, name+".ready")
		return &condition{name: name, start: func() {
			_ = os.Remove(ready)
			stop = startNoopPlugin(b, noopBin, s.NRISocket(), "--ready-file", ready)
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				if _, err := os.Stat(ready); err == nil {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("the %s plugin did not register in 10s", name)
				}
			}
		}, stop: func() { stop() }, check: func(id string) {
			if adjusted(id) {
				b.Fatalf("the %s plugin adjusted the container", name)
			}
		}}
	}
	specguardCondition := func(name string, extra ...string) *condition {
		return &condition{name: name, start: func() {
			if err := s.StartPlugin(policyPath, append([]string{"--log-format", "json", "--node-name", "node-1"}, extra...)...); err != nil {
				b.Fatal(err)
			}
			if err := s.WaitPluginReady(15 * time.Second); err != nil {
				b.Fatal(err)
			}
		}, stop: func() {
			if err := s.StopPlugin(syscall.SIGTERM); err != nil {
				b.Fatal(err)
			}
		}, check: func(id string) {
			if !adjusted(id) {
				b.Fatal("specguard did not adjust the container")
			}
		}}
	}
	noop, events := &countingNoop{}, &noopEvents{}
	conds := []*condition{
		{name: "without", start: func() {}, stop: func() {},
			check: func(id string) {
				if adjusted(id) {
					b.Fatal("a plugin adjusted the container with none connected")
				}
			}},
		noopCondition("noop", noop),
		noopCondition("noop-events", events),
		noopProcessCondition("noop-process"),
		specguardCondition("specguard"),
		specguardCondition("specguard-exact", "--exact-restart-counts"),
		specguardCondition("specguard-warn", "--log-level", "warn"),
	}

	b.ResetTimer()
	for done, k := 0, 0; done < b.N; k++ {
		c := conds[k%len(conds)]
		n := min(containerdRound, b.N-done)
		b.StopTimer()
		c.start()
		// The first creations after a switch warm up (and, after a plugin
		// left, let containerd drop its closed connection); untimed.
		for i := 0; i < 3; i++ {
			id, _ := create()
			if i == 2 {
				c.check(id)
			}
			remove(id)
		}
		b.StartTimer()
		for i := 0; i < n; i++ {
			id, d := create()
			c.times = append(c.times, d)
			b.StopTimer()
			remove(id)
			b.StartTimer()
		}
		b.StopTimer()
		c.stop()
		b.StartTimer()
		if k%len(conds) == len(conds)-1 {
			done += n
		}
	}
	b.StopTimer()

	without, nop, nopEvents, nopProcess, sg, sgExact, sgWarn := conds[0].times, conds[1].times, conds[2].times, conds[3].times, conds[4].times, conds[5].times, conds[6].times
	for _, c := range conds {
		b.ReportMetric(ms(c.times.p50()), c.name+"-p50-ms")
		b.ReportMetric(ms(c.times.p99()), c.name+"-p99-ms")
	}
	b.ReportMetric(float64(sg.p50())/float64(without.p50()), "ratio-p50")
	b.ReportMetric(float64(sg.p99())/float64(without.p99()), "ratio-p99")
	b.ReportMetric(float64(nop.p50())/float64(without.p50()), "noop-ratio-p50")
	b.ReportMetric(float64(nopEvents.p50())/float64(without.p50()), "noop-events-ratio-p50")
	b.ReportMetric(float64(nopProcess.p50())/float64(without.p50()), "noop-process-ratio-p50")
	b.ReportMetric(float64(sg.p50())/float64(nopProcess.p50()), "process-own-ratio-p50")
	b.ReportMetric(float64(sgExact.p50())/float64(without.p50()), "exact-ratio-p50")
	b.ReportMetric(float64(sgExact.p99())/float64(without.p99()), "exact-ratio-p99")
	b.ReportMetric(float64(sg.p50())/float64(nop.p50()), "own-ratio-p50")
	b.ReportMetric(float64(sgExact.p50())/float64(nopEvents.p50()), "exact-own-ratio-p50")
	b.ReportMetric(float64(sgWarn.p50())/float64(nop.p50()), "warn-own-ratio-p50")
	b.ReportMetric(float64(noop.requestBytes.Load()), "nri-request-B")
}
