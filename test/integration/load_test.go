package integration

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	"github.com/containerd/nri/pkg/api"
	"go.uber.org/goleak"
)

const loadPolicy = `  rules:
  - name: defaults
    env: [{name: RESTART_COUNT, value: "{{ .RestartCount }}"}]
    resources:
      memory: {limit: {default: 256Mi, max: 1Gi}}
      cpu: {shares: {default: 256, max: 2048}}
      pids: {limit: {default: 512}}
    overrides: {allow: [resources.memory.limit]}
`

// TestLoadWithChurnStaysFlat sends tens of thousands of NRI requests
// through the real protocol while pods and containers come and go, and
// checks that nothing accumulates: the plugin's RSS and goroutines (from
// /proc and /metrics), the test process's goroutines (goleak), and the
// tracker's size, which must equal the live containers at every
// checkpoint. Figures go to the log for docs/reliability.md.
func TestLoadWithChurnStaysFlat(t *testing.T) {
	// Not parallel: it counts this process's goroutines and measures the plugin's RSS.
	if testing.Short() {
		t.Skip("load test")
	}
	// Registered first so it runs last, after the runtime and plugin stop.
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		goleak.VerifyNone(t, goleak.IgnoreCurrent())
	})
	r := newRuntime(t)
	addr := freeAddr(t)
	// Info, as a node runs: a debug line per request through the pipe the
	// test reads stalled the plugin past the runtime's 2 s timeout on a
	// starved box.
	p := r.startPlugin("--config", writePolicy(t, r.dir, loadPolicy), "--metrics-addr", addr, "--log-level", "info")
	pid := p.cmd.Process.Pid

	// A steady population that lives through the whole run.
	var steady []*api.PodSandbox
	for i := 0; i < 20; i++ {
		pod := r.addPod("steady-"+strconv.Itoa(i), "load", "uid-steady-"+strconv.Itoa(i), nil)
		steady = append(steady, pod)
		for _, c := range []string{"app", "sidecar"} {
			if _, _, err := r.create(pod, c, nil); err != nil {
				t.Fatal(err)
			}
		}
	}

	const workers, rounds, warmup = 4, 50, 5
	var requests countingInt
	// round runs one burst of churn on every worker: each makes pods,
	// restarts their containers a few times (stop, remove, create again,
	// checking the count goes up by one) and removes the pods.
	round := func(n int) {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				if err := churn(r, fmt.Sprintf("r%d-w%d", n, w), &requests); err != nil {
					errs <- err
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got, want := metric(t, addr, "specguard_tracked_containers"), float64(r.live()); got != want {
			t.Fatalf("round %d: specguard_tracked_containers = %v, live containers %v", n, got, want)
		}
	}

	start := time.Now()
	for n := 0; n < warmup; n++ {
		round(n) // warm-up: let the heap and pools reach their working size
	}
	goruntime.GC()
	earlyRSS, earlyG, earlyLocal := vmRSS(t, pid), metric(t, addr, "go_goroutines"), goruntime.NumGoroutine()
	for n := warmup; n < rounds; n++ {
		round(n)
	}
	lateRSS, lateG, lateLocal := vmRSS(t, pid), metric(t, addr, "go_goroutines"), goruntime.NumGoroutine()
	elapsed := time.Since(start)
	t.Logf("%d NRI requests in %v (%.0f/s); plugin VmRSS %d KiB early, %d KiB late; plugin goroutines %v early, %v late; test goroutines %d early, %d late; tracked %v, live %d",
		requests.get(), elapsed.Round(time.Millisecond), float64(requests.get())/elapsed.Seconds(),
		earlyRSS, lateRSS, earlyG, lateG, earlyLocal, lateLocal, metric(t, addr, "specguard_tracked_containers"), r.live())

	if requests.get() < 20000 {
		t.Errorf("only %d requests", requests.get())
	}
	// Flat: a leak of even a few hundred bytes per request would add
	// several MiB over this run; heap growth and GC timing stay well below.
	if lateRSS > earlyRSS+8<<10 {
		t.Errorf("plugin VmRSS grew from %d KiB to %d KiB", earlyRSS, lateRSS)
	}
	if lateG > earlyG+2 {
		t.Errorf("plugin goroutines grew from %v to %v", earlyG, lateG)
	}
	if lateLocal > earlyLocal+5 {
		t.Errorf("test-process goroutines grew from %d to %d", earlyLocal, lateLocal)
	}

	// Removing everything empties the tracker.
	for _, pod := range steady {
		for _, c := range r.containersOf(pod) {
			r.remove(pod, c)
		}
		r.removePod(pod)
	}
	if got := metric(t, addr, "specguard_tracked_containers"); got != 0 || r.live() != 0 {
		t.Fatalf("after removing everything: tracked %v, live %d", got, r.live())
	}
}

// churn is one worker's share of a round: 5 pods with 3 containers each,
// every container restarted 4 times, then everything removed.
func churn(r *runtime, tag string, requests *countingInt) error {
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		pod := r.addPod("churn-"+tag+"-"+strconv.Itoa(i), "load", "uid-"+tag+"-"+strconv.Itoa(i), nil)
		requests.add(1)
		for _, name := range []string{"app", "sidecar", "init"} {
			var prev *api.Container
			for attempt := 0; attempt < 4; attempt++ {
				c, adj, err := r.create(pod, name, nil)
				requests.add(2) // CreateContainer, PostCreateContainer
				if err != nil {
					return fmt.Errorf("%s/%s attempt %d: %w", pod.Name, name, attempt, err)
				}
				if got := adj.GetAnnotations()["specguard.io/restart-count"]; got != strconv.Itoa(attempt) {
					return fmt.Errorf("%s/%s attempt %d: restart-count %q", pod.Name, name, attempt, got)
				}
				if prev != nil {
					// The kubelet keeps the newest dead container; older ones go.
					if _, err := r.rt().StopContainer(ctx, &adaptation.StopContainerRequest{Pod: pod, Container: prev}); err != nil {
						return err
					}
					r.remove(pod, prev)
					requests.add(2)
				}
				prev = c
			}
		}
		for _, c := range r.containersOf(pod) {
			r.remove(pod, c)
			requests.add(1)
		}
		if err := r.rt().StopPodSandbox(ctx, &adaptation.StopPodSandboxRequest{Pod: pod}); err != nil {
			return err
		}
		r.removePod(pod)
		requests.add(2)
	}
	return nil
}

func (r *runtime) live() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ctrs)
}

func (r *runtime) containersOf(pod *api.PodSandbox) []*api.Container {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*api.Container
	for _, c := range r.ctrs {
		if c.PodSandboxId == pod.Id {
			out = append(out, c)
		}
	}
	return out
}

type countingInt struct {
	mu sync.Mutex
	n  int
}

func (c *countingInt) add(n int) { c.mu.Lock(); c.n += n; c.mu.Unlock() }
func (c *countingInt) get() int  { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

// metric reads one sample from /metrics.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	v, err := sample(addr, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// vmRSS is the process's resident set in KiB.
func vmRSS(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
