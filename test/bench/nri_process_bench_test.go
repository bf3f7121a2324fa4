package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/proto"

	"github.com/specguard/specguard/test/bench/workload"
)

// noopPluginBinary builds cmd/noopplugin into dir with the go command on
// PATH (the one running the benchmark).
func noopPluginBinary(b *testing.B, dir string) string {
	b.Helper()
	bin := filepath.Join(dir, "noopplugin")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/specguard/specguard/test/bench/cmd/noopplugin").CombinedOutput()
	if err != nil {
		b.Fatalf("building the no-op plugin: %v\n%s", err, out)
	}
	return bin
}

// startNoopPlugin starts cmd/noopplugin (bin, from noopPluginBinary) on the
// runtime socket; stop kills it and waits for it.
func startNoopPlugin(b *testing.B, bin, socket string, extra ...string) (stop func()) {
	b.Helper()
	cmd := exec.Command(bin, append([]string{"--socket-path", socket}, extra...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
}

// BenchmarkCreateProcess times what containerd sends NRI plugins during one
// CRI CreateContainer, as a node pays for it: each plugin is its own
// process, as runtimes run them, connected over a Unix socket to the real
// NRI runtime half (pkg/adaptation) in this process, one runtime half per
// plugin, all called in turn (in rotating order) so that all see the same
// machine at the same time:
//
//   - noop: cmd/noopplugin, a plugin that subscribes to CreateContainer
//     alone and changes nothing (reading requests whole, as the NRI stub
//     does): the baseline of specguard's targets;
//   - specguard: the built binary (`make build`) with the 100-rule workload
//     policy, as the DaemonSet runs it (JSON logs at info level, one
//     request per creation);
//   - specguard-exact: the same with --exact-restart-counts
//     (PostCreateContainer too);
//   - specguard-validating: the same with a validation section
//     (ValidateContainerAdjustment inside CreateContainer).
//
// Each creation is CreateContainer then PostCreateContainer (which only the
// plugins subscribed to it receive) for a new container ID, the first of
// its pod; the pod is removed after it, untimed. Reported: each one's
// median and p99, specguard's ratios to noop for the whole creation
// (ratio-*, the target), for CreateContainer alone (create-ratio-p50), in
// the exact mode (exact-ratio-*) and validating (validating-ratio-*).
// SPECGUARD_BENCH_PLUGIN_ENV sets Go runtime settings of specguard's
// processes only (startBinary). BenchmarkCreateContainer runs the plugins
// inside this process instead, where pprof sees all of it.
func BenchmarkCreateProcess(b *testing.B) {
	bin := specguardBinary(b)
	dir := b.TempDir()
	noopBin := noopPluginBinary(b, dir)
	pol := writeWorkloadPolicy(b, dir, 100)
	valPol := filepath.Join(dir, "policy-validating.yaml")
	if err := os.WriteFile(valPol, append(workload.Policy(100), validationSection...), 0o644); err != nil {
		b.Fatal(err)
	}
	pod, c := workload.Request(0)

	type condition struct {
		rt            *nriRuntime
		whole, create samples
	}
	noopRT := newNRIRuntime(b, nil, nil)
	b.Cleanup(startNoopPlugin(b, noopBin, noopRT.socket))
	noopRT.waitSynced(b, 10*time.Second)
	conds := []*condition{{rt: noopRT}}
	for i, args := range [][]string{{"--config", pol}, {"--config", pol, "--exact-restart-counts"}, {"--config", valPol}} {
		rt := newNRIRuntime(b, nil, nil)
		d := filepath.Join(dir, fmt.Sprint(i))
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
		p := startBinary(b, bin, d, rt.socket, args[1], args[2:]...)
		select {
		case <-rt.synced:
			time.Sleep(20 * time.Millisecond)
		case <-time.After(10 * time.Second):
			b.Fatalf("specguard (%s) did not register in 10s:\n%s", strings.Join(args, " "), p.logTail())
		}
		if got := rt.create(b, pod, proto.Clone(c).(*api.Container)).GetAdjust(); got.GetAnnotations()["specguard.io/rules"] == "" {
			b.Fatalf("specguard (%s) did not adjust the container: %v", strings.Join(args, " "), got)
		}
		rt.removePod(b, pod)
		conds = append(conds, &condition{rt: rt})
	}
	if got := noopRT.create(b, pod, proto.Clone(c).(*api.Container)).GetAdjust(); len(got.GetAnnotations()) != 0 {
		b.Fatalf("the no-op plugin adjusted the container: %v", got)
	}
	noopRT.removePod(b, pod)

	seq := 0
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
	for n := range 300 { // warm up connections, caches and the GC pacers
		call(conds[n%len(conds)])
	}
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

	noopC, sg, exact, val := conds[0], conds[1], conds[2], conds[3]
	reportQuantiles(b, "noop-", noopC.whole)
	reportQuantiles(b, "specguard-", sg.whole)
	reportQuantiles(b, "specguard-exact-", exact.whole)
	reportQuantiles(b, "specguard-validating-", val.whole)
	ratio := func(a, b time.Duration) float64 { return float64(a) / float64(b) }
	b.ReportMetric(ratio(sg.whole.p50(), noopC.whole.p50()), "ratio-p50")
	b.ReportMetric(ratio(sg.whole.p99(), noopC.whole.p99()), "ratio-p99")
	b.ReportMetric(ratio(sg.create.p50(), noopC.create.p50()), "create-ratio-p50")
	b.ReportMetric(ratio(exact.whole.p50(), noopC.whole.p50()), "exact-ratio-p50")
	b.ReportMetric(ratio(exact.whole.p99(), noopC.whole.p99()), "exact-ratio-p99")
	b.ReportMetric(ratio(val.whole.p50(), noopC.whole.p50()), "validating-ratio-p50")
	b.ReportMetric(ratio(val.whole.p99(), noopC.whole.p99()), "validating-ratio-p99")
}
