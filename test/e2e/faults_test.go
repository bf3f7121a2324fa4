package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/specguard/specguard/test/e2e/harness"
)

// reconnectTimeout bounds how long specguard may take to re-dial a runtime
// that came back (it retries with a backoff).
const reconnectTimeout = 20 * time.Second

const markerPolicy = metadataPolicy + `  rules:
    - name: marker
      env:
        - {name: SPECGUARD_RESTART_COUNT, value: "{{ .RestartCount }}"}
`

// (e) containerd restarts under a running specguard: specguard stays up
// (not ready meanwhile), reconnects by itself, and keeps adjusting new
// containers with restart counts that continue; running containers survive.
func TestContainerdRestart(t *testing.T) {
	s := newStack(t, stackOptions{})
	startPlugin(t, s, markerPolicy)
	pid := s.PluginPid()

	podID, pod := runPod(t, s, harness.Pod{Name: "survivor", Namespace: "e2e-restart"})
	keep := runContainer(t, s, podID, pod, harness.Container{Name: "keep", Resources: bestEffort})
	first := runContainer(t, s, podID, pod, harness.Container{Name: "app", Resources: bestEffort})
	if n := restartCount(t, first); n != 0 {
		t.Fatalf("first app: restart count %d, want 0", n)
	}
	if err := s.StopContainer(first.Status.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveContainer(first.Status.ID); err != nil {
		t.Fatal(err)
	}

	if code := readyz(t, s); code != http.StatusOK {
		t.Errorf("/readyz = %d while connected, want 200", code)
	}
	start := time.Now()
	if err := s.StopContainerd(); err != nil {
		t.Fatal(err)
	}
	// While the runtime is away specguard stays up and says it is not ready.
	deadline := time.Now().Add(5 * time.Second)
	for code := readyz(t, s); code == http.StatusOK; code = readyz(t, s) {
		if time.Now().After(deadline) {
			t.Errorf("/readyz still 200 5s after containerd stopped")
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if exited, how := s.PluginExited(); exited {
		t.Fatalf("specguard exited when containerd stopped (%s):\n%s", how, harness.Tail(s.SpecguardLog(), 20))
	}
	if err := s.StartContainerd(); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitPluginReady(reconnectTimeout); err != nil {
		t.Fatalf("after the containerd restart: %v", err)
	}
	t.Logf("specguard adjusting again %v after the restart began", time.Since(start).Round(time.Millisecond))
	if got := s.PluginPid(); got != pid {
		exited, how := s.PluginExited()
		t.Errorf("specguard pid %d -> %d (exited %v: %s); want the same process to reconnect", pid, got, exited, how)
	}

	if code := readyz(t, s); code != http.StatusOK {
		t.Errorf("/readyz = %d after reconnecting, want 200", code)
	}
	if ci := inspect(t, s, keep.Status.ID); ci.Status.State != "CONTAINER_RUNNING" {
		t.Errorf("container started before the restart is %s, want CONTAINER_RUNNING", ci.Status.State)
	}
	second := runContainer(t, s, podID, pod, harness.Container{Name: "app", Attempt: 1, Resources: bestEffort})
	if n := restartCount(t, second); n != 1 {
		t.Errorf("app after the containerd restart: restart count %d, want 1", n)
	}
	if env := harness.ParseEnv(execOut(t, s, second.Status.ID, "env")); env["SPECGUARD_RESTART_COUNT"] != "1" {
		t.Errorf("env SPECGUARD_RESTART_COUNT = %q, want 1", env["SPECGUARD_RESTART_COUNT"])
	}
}

// (f) specguard is killed (SIGKILL) and restarted: restart counts continue
// without a gap or a repeat, recovered from the annotations on the
// containers that still exist, and from the pod's log directory once none
// does (containers removed with their logs kept).
func TestPluginKilledRestartCounts(t *testing.T) {
	s := newStack(t, stackOptions{})
	policy := startPlugin(t, s, markerPolicy)
	uid := harness.NewUID()
	podID, pod := runPod(t, s, harness.Pod{Name: "counter", Namespace: "e2e-counts", UID: uid})

	attempt := 0
	next := func(want int) *harness.ContainerInspect {
		t.Helper()
		ci := runContainer(t, s, podID, pod, harness.Container{Name: "app", Attempt: attempt, Resources: bestEffort})
		attempt++
		if n := restartCount(t, ci); n != want {
			t.Fatalf("create #%d of app: restart count %d, want %d", attempt, n, want)
		}
		if err := s.StopContainer(ci.Status.ID, 0); err != nil {
			t.Fatal(err)
		}
		return ci
	}
	restart := func() {
		t.Helper()
		if err := s.StopPlugin(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := s.StartPlugin(policy); err != nil {
			t.Fatal(err)
		}
		if err := s.WaitPluginReady(15 * time.Second); err != nil {
			t.Fatal(err)
		}
	}

	c0 := next(0)
	if err := s.RemoveContainer(c0.Status.ID); err != nil {
		t.Fatal(err)
	}
	c1 := next(1) // the tracker remembers the removed container

	restart() // c1 (exited) still exists and carries restart-count 1
	c2 := next(2)

	for _, ci := range []*harness.ContainerInspect{c1, c2} {
		if err := s.RemoveContainerKeepLogs(ci.Status.ID); err != nil {
			t.Fatal(err)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(s.PodLogDir("e2e-counts", "counter", uid), "app", "*.log"))
	t.Logf("pod log files: %v", logs)
	restart() // no app container left: only the log directory knows
	next(3)
}

// (g) With containerd's default validator requiring specguard
// (deploy/containerd/fail-closed.toml), containers are refused while
// specguard is down and admitted once it is back.
func TestFailClosed(t *testing.T) {
	s := newStack(t, stackOptions{failClosed: true})
	policy := writePolicy(t, s, markerPolicy)
	podID, pod := runPod(t, s, harness.Pod{Name: "guarded", Namespace: "e2e-failclosed"})

	refused := func(when string) {
		t.Helper()
		id, err := s.CreateContainer(podID, s.ContainerConfig(pod, harness.Container{Name: "app", Resources: bestEffort}), pod)
		if err == nil {
			_ = s.RemoveContainer(id)
			t.Fatalf("%s: container created; want a refusal while specguard is down", when)
		}
		msg := crictlErr(err)
		t.Logf("%s: crictl create: %s", when, strings.TrimSpace(msg))
		if !strings.Contains(msg, harness.PluginName) {
			t.Errorf("%s: refusal %q does not name the required plugin %q", when, msg, harness.PluginName)
		}
	}
	admitted := func() {
		t.Helper()
		if err := s.StartPlugin(policy); err != nil {
			t.Fatal(err)
		}
		if err := s.WaitPluginReady(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		ci := runContainer(t, s, podID, pod, harness.Container{Name: "app", Resources: bestEffort})
		restartCount(t, ci)
		if err := s.RemoveContainer(ci.Status.ID); err != nil {
			t.Fatal(err)
		}
	}

	refused("before specguard started")
	admitted()
	if err := s.StopPlugin(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	firstAfterCrash(t, s, podID, pod)
	refused("after specguard was killed")
	admitted()

	// SIGTERM is a clean stop: exit code 0, as the README says.
	if err := s.StopPlugin(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := s.PluginExitCode(); code != 0 {
		t.Errorf("specguard exited %d on SIGTERM, want 0", code)
	}
	firstAfterCrash(t, s, podID, pod)
	refused("after specguard stopped")
}

// firstAfterCrash creates the first container after specguard died or
// stopped.
// containerd 2.4.2 embeds NRI v0.12.3, whose CreateContainer still lists a
// plugin whose connection has closed as present for the default validator,
// calls it, treats the failed call as "no adjustment" and only then drops
// the plugin: the first container created after specguard dies, before any
// other NRI event, is admitted without specguard (NRI v0.12.5 skips closed
// plugins). The test records that window instead of failing on it; every
// later creation must be refused (see docs/e2e.md).
func firstAfterCrash(t *testing.T, s *harness.Stack, podID string, pod map[string]any) {
	t.Helper()
	id, err := s.CreateContainer(podID, s.ContainerConfig(pod, harness.Container{Name: "app", Resources: bestEffort}), pod)
	if err != nil {
		if msg := crictlErr(err); !strings.Contains(msg, harness.PluginName) {
			t.Errorf("first create after the crash: refusal %q does not name %q", msg, harness.PluginName)
		}
		t.Logf("first create after the crash refused (the NRI window did not open)")
		return
	}
	ci := inspect(t, s, id)
	if _, ok := ci.Info.RuntimeSpec.Annotations[harness.AnnotationRestartCount]; ok {
		t.Errorf("first create after the crash: container carries specguard's annotations although specguard was dead")
	}
	t.Logf("KNOWN GAP (containerd 2.4.2 / NRI v0.12.3): the first container created after specguard died was admitted unadjusted")
	if err := s.RemoveContainer(id); err != nil {
		t.Fatal(err)
	}
}

// readyz returns the status of specguard's /readyz, 0 when it does not answer.
func readyz(t *testing.T, s *harness.Stack) int {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + s.MetricsAddr() + "/readyz")
	if err != nil {
		t.Logf("/readyz: %v", err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
