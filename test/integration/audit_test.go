package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
)

// TestSamplePolicyInAudit runs deploy/policy.yaml switched to audit mode,
// as an admin trying it out would: its downward-api rule would add four env
// variables to every container. Those are additions: they stay out of
// specguard.io/violations and the info log (with critest, 102 of 103
// containers were annotated and logged for them). What enforce would
// change of the container's own is a finding and is reported.
func TestSamplePolicyInAudit(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../deploy/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	audit := strings.Replace(string(doc), "\n  mode: enforce\n", "\n  mode: audit\n", 1)
	if audit == string(doc) {
		t.Fatal("deploy/policy.yaml has no top-level `mode: enforce` to switch")
	}
	r := newRuntime(t)
	path := filepath.Join(r.dir, "audit.yaml")
	if err := os.WriteFile(path, []byte(audit), 0o644); err != nil {
		t.Fatal(err)
	}
	p := r.startPlugin("--config", path)
	pod := r.addPod("critest-pod", "critest-ns", "uid-1", nil)

	_, adj, err := r.create(pod, "plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := adj.GetAnnotations()["specguard.io/violations"]; ok {
		t.Errorf("specguard.io/violations = %q on a container audit mode would only add to", v)
	}
	if len(adj.GetEnv()) != 0 {
		t.Errorf("audit set env: %v", adj.GetEnv())
	}
	if !p.logSays("container created; audit-mode rules would only add", 1) {
		t.Fatalf("the additions are not logged:\n%s", p.Logs())
	}
	for _, name := range []string{"RESTART_COUNT", "POD_LOG_PATH", "POD_QOS_CLASS", "NODE_NAME"} {
		if !strings.Contains(p.Logs(), "would set env "+name+"=") {
			t.Errorf("the debug line lacks the addition of %s", name)
		}
	}

	_, adj, err = r.create(pod, "own-qos", func(c *api.Container) { c.Env = append(c.Env, "POD_QOS_CLASS=Gold") })
	if err != nil {
		t.Fatal(err)
	}
	if v := adj.GetAnnotations()["specguard.io/violations"]; v != `downward-api: would change env POD_QOS_CLASS from "Gold" to "BestEffort"` {
		t.Errorf("specguard.io/violations = %q, want only the finding about POD_QOS_CLASS", v)
	}
	if !p.logSays("container adjusted with audit findings", 1) {
		t.Fatalf("the finding is not logged:\n%s", p.Logs())
	}
	if n := strings.Count(p.Logs(), "container adjusted with audit findings"); n != 1 {
		t.Errorf("%d info lines with audit findings, want 1 (the container whose env would change):\n%s", n, p.Logs())
	}
}
