package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/test/e2e/harness"
)

const finalContainerPolicy = metadataPolicy + `  validation:
    trustedPlugins: ["96-trusted"]
  rules:
    - name: cap
      match: {namespaces: ["e2e-final"]}
      resources:
        memory: {limit: {default: 64Mi, max: 256Mi}}
    - name: watch
      mode: audit
      match: {namespaces: ["e2e-final-audit"]}
      resources:
        memory: {limit: {max: 256Mi}}
`

// The final container on a real containerd: other NRI plugins, before
// specguard (index 20) and after it (95, 96 trusted), change a memory
// limit specguard bounds and left alone; the validator judges the
// container containerd will create. A later change past the bound is
// refused naming the plugin, the field, the value and the rule; an earlier
// one is clamped by specguard and refused by NRI as a conflict; one within
// the bounds passes (and reaches the cgroup); a trusted plugin passes; an
// audit-mode rule reports without refusing.
func TestFinalContainerValidation(t *testing.T) {
	s := newStack(t, stackOptions{})
	startPlugin(t, s, finalContainerPolicy)
	limit := func(n int64) func(*api.ContainerAdjustment) {
		return func(adj *api.ContainerAdjustment) { adj.SetLinuxMemoryLimit(n) }
	}
	early := &nriPeer{prefix: "early-", changes: map[string]func(*api.ContainerAdjustment){
		"big": limit(1 << 30),
	}}
	late := &nriPeer{prefix: "late-", changes: map[string]func(*api.ContainerAdjustment){
		"big":   limit(2 << 30),
		"small": limit(128 << 20),
	}}
	trusted := &nriPeer{prefix: "trusted-", changes: map[string]func(*api.ContainerAdjustment){
		"big": limit(512 << 20),
	}}
	startPeer(t, s, early, "early", "20")
	startPeer(t, s, late, "late", "95")
	startPeer(t, s, trusted, "trusted", "96")

	// Every container asks for a memory limit the rule admits (100Mi), so
	// specguard leaves it alone: where specguard sets a field itself, NRI
	// refuses another plugin's change to it as a conflict ("both tried to
	// set") before any validator sees it.
	create := func(t *testing.T, ns, name string) (*harness.ContainerInspect, string) {
		t.Helper()
		podID, pod := runPod(t, s, harness.Pod{Name: "p-" + name, Namespace: ns})
		c := harness.Container{Name: name, Resources: map[string]any{"memory_limit_in_bytes": 100 << 20}}
		id, err := s.RunContainer(podID, s.ContainerConfig(pod, c), pod)
		if err != nil {
			return nil, strings.ReplaceAll(lastLine(crictlErr(err)), `\"`, `"`)
		}
		ci, err := s.Inspect(id)
		if err != nil {
			t.Fatal(err)
		}
		return ci, ""
	}
	refused := func(t *testing.T, ns, name string, want ...string) {
		t.Helper()
		ci, msg := create(t, ns, name)
		if ci != nil {
			t.Fatalf("%s created; want a refusal mentioning %q", name, want)
		}
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("refusal does not mention %q: %s", w, msg)
			}
		}
		t.Logf("refused: %s", msg)
	}
	memory := func(t *testing.T, ci *harness.ContainerInspect) int64 {
		t.Helper()
		l, err := harness.ReadCgroupLimits(ci.Info.RuntimeSpec.Linux.CgroupsPath)
		if err != nil {
			t.Fatal(err)
		}
		return l.Memory
	}

	t.Run("a later plugin raises the memory limit past the max", func(t *testing.T) {
		refused(t, "e2e-final", "late-big", `plugin "95-late"`, "resources.memory.limit", "2Gi", "256Mi", `rule "cap"`)
	})
	// specguard sees what a plugin before it set (NRI hands each plugin
	// the container as adjusted so far) and clamps it; NRI then refuses
	// the two plugins' claims on one field, naming both.
	t.Run("an earlier plugin raises the memory limit past the max", func(t *testing.T) {
		refused(t, "e2e-final", "early-big", `"90-specguard" and "20-early" both tried to set MemLimit`)
	})
	t.Run("a change within the bounds passes", func(t *testing.T) {
		ci, msg := create(t, "e2e-final", "late-small")
		if ci == nil {
			t.Fatalf("refused: %s", msg)
		}
		if got := memory(t, ci); got != 128<<20 {
			t.Errorf("memory limit %d, want the later plugin's %d", got, 128<<20)
		}
	})
	t.Run("a trusted plugin passes", func(t *testing.T) {
		ci, msg := create(t, "e2e-final", "trusted-big")
		if ci == nil {
			t.Fatalf("refused: %s", msg)
		}
		if got := memory(t, ci); got != 512<<20 {
			t.Errorf("memory limit %d, want the trusted plugin's %d", got, 512<<20)
		}
	})
	t.Run("an audit-mode rule reports without refusing", func(t *testing.T) {
		ci, msg := create(t, "e2e-final-audit", "late-big")
		if ci == nil {
			t.Fatalf("refused under an audit-mode rule: %s", msg)
		}
		deadline := time.Now().Add(10 * time.Second)
		logged := func() bool {
			b, _ := os.ReadFile(s.SpecguardLog())
			return strings.Contains(string(b), "validation findings (audit mode)") && strings.Contains(string(b), "95-late")
		}
		for !logged() {
			if time.Now().After(deadline) {
				t.Fatalf("no audit finding logged:\n%s", harness.Tail(s.SpecguardLog(), 20))
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
