package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/specguard/specguard/test/e2e/harness"
)

// TestStackWithoutPlugin checks the harness itself, without specguard: a
// host-network pod and a container run on the private containerd, the values
// the container asked for reach its cgroup, and cleanup leaves no process,
// mount or cgroup behind.
func TestStackWithoutPlugin(t *testing.T) {
	s := newStack(t, stackOptions{})
	podID, pod := runPod(t, s, harness.Pod{Name: "plain", Namespace: "e2e-stack"})
	ci := runContainer(t, s, podID, pod, harness.Container{
		Name: "app",
		Env:  map[string]string{"HELLO": "world"},
		Resources: map[string]any{
			"cpu_shares":            512,
			"memory_limit_in_bytes": 96 << 20,
			"oom_score_adj":         900,
		},
	})
	if ci.Status.State != "CONTAINER_RUNNING" {
		t.Fatalf("state %s, want CONTAINER_RUNNING", ci.Status.State)
	}
	if env := harness.ParseEnv(execOut(t, s, ci.Status.ID, "env")); env["HELLO"] != "world" {
		t.Errorf("env HELLO = %q, want world", env["HELLO"])
	}
	if got := execOut(t, s, ci.Status.ID, "cat", "/proc/1/oom_score_adj"); got != "900" {
		t.Errorf("oom_score_adj = %s, want 900", got)
	}
	cg := ci.Info.RuntimeSpec.Linux.CgroupsPath
	if !strings.HasPrefix(cg, s.CgroupParent+"/") {
		t.Errorf("cgroupsPath %q not under the stack's parent %s", cg, s.CgroupParent)
	}
	l, err := harness.ReadCgroupLimits(cg)
	if err != nil {
		t.Fatal(err)
	}
	if !l.SharesMatch(512) || l.Memory != 96<<20 {
		t.Errorf("cgroup %s: %+v, want shares 512, memory %d", cg, l, 96<<20)
	}

	// Cleanup must leave nothing behind, and a second one must be a no-op.
	st, err := harness.LoadState(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Down(); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if err := harness.Cleanup(s.Dir, t.Logf); err != nil {
		t.Fatalf("second cleanup: %v", err)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after cleanup", s.Dir)
	}
	if _, err := os.Stat("/proc/" + itoa(ci.Info.Pid)); err == nil {
		t.Errorf("container process %d still runs", ci.Info.Pid)
	}
	if left := harness.Leftovers(st); left != "" {
		t.Errorf("left behind: %s", left)
	}
}
