package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageAndUnknownCommand(t *testing.T) {
	if code, _, errs := runCLI(t); code != exitUsage || !strings.Contains(errs, "usage: specguard") {
		t.Fatalf("no args: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "frobnicate"); code != exitUsage || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Fatalf("unknown: %d %q", code, errs)
	}
	if code, _, _ := runCLI(t, "validate", "--bogus"); code != exitUsage {
		t.Fatalf("bad flag: %d", code)
	}
	if code, out, _ := runCLI(t, "version"); code != exitOK || !strings.HasPrefix(out, "specguard ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: x\n    resources: {memory: {limit: {max: 1Gi, min: 2Gi}}}\n"), 0o644)
	code, out, errs := runCLI(t, "validate", "../../deploy/policy.yaml", bad)
	if code != exitInput {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out, "deploy/policy.yaml: valid") {
		t.Errorf("stdout %q", out)
	}
	if !strings.Contains(errs, "bad.yaml:6: spec.rules[0].resources.memory.limit.min: min 2Gi is above max 1Gi") {
		t.Errorf("stderr %q", errs)
	}
	if code, _, _ := runCLI(t, "validate"); code != exitUsage {
		t.Errorf("no files: %d", code)
	}

	// A warning does not make a policy invalid: exit 0, the warning on stderr.
	warn := filepath.Join(dir, "warn.yaml")
	os.WriteFile(warn, []byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: x\n    security: {maskedPaths: [/proc/kcore]}\n"), 0o644)
	code, out, errs = runCLI(t, "validate", warn)
	if code != exitOK || !strings.Contains(out, "warn.yaml: valid") {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	if !strings.Contains(errs, "warn.yaml:6: spec.rules[0].security.maskedPaths[0]: warning: /proc/kcore will not be masked") {
		t.Errorf("stderr %q", errs)
	}
}

func TestExplainRequestJSON(t *testing.T) {
	dir := t.TempDir()
	req := filepath.Join(dir, "req.json")
	os.WriteFile(req, []byte(`{"pod": {"id": "sb1", "name": "web-0", "namespace": "team-a", "uid": "u1", "labels": {"tier": "web", "team": "blue"}, "runtime_handler": "runc"},
 "container": {"id": "c1", "name": "app", "image": {"name": "registry.example/app:1"}, "annotations": {"io.kubernetes.container.restartCount": "2"},
   "user": {"uid": 1000, "gid": 1000},
   "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}],
     "resources": {"memory": {"limit": {"value": "3221225472"}}}}}}`), 0o644)
	code, out, errs := runCLI(t, "explain", "--config", "../../pkg/policy/testdata/contract.yaml", "--request", req, "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Allowed    bool              `json:"allowed"`
		Reason     string            `json:"reason"`
		Adjustment map[string]any    `json:"adjustment"`
		Trace      []map[string]any  `json:"trace"`
		Violations []json.RawMessage `json:"violations"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !got.Allowed || got.Adjustment["annotations"].(map[string]any)["specguard.io/restart-count"] != "2" {
		t.Fatalf("explain: %s", out)
	}
	found := false
	for _, tr := range got.Trace {
		if tr["rule"] == "team-defaults" && tr["field"] == "resources.memory.limit" && tr["action"] == "clamp" {
			found = strings.HasPrefix(tr["value"].(string), "2Gi")
		}
	}
	if !found {
		t.Errorf("no clamp of the memory limit in the trace: %s", out)
	}
	for _, k := range []string{`"allowed"`, `"reason"`, `"adjustment"`, `"trace"`, `"violations"`} {
		if !strings.Contains(out, k) {
			t.Errorf("missing %s", k)
		}
	}
}

func TestExplainBadInput(t *testing.T) {
	dir := t.TempDir()
	req := filepath.Join(dir, "req.json")
	os.WriteFile(req, []byte(`{"pod": {"nmae": "x"}, "container": {}}`), 0o644)
	code, _, errs := runCLI(t, "explain", "--config", "../../deploy/policy.yaml", "--request", req)
	if code != exitInput || !strings.Contains(errs, "pod:") || !strings.Contains(errs, "nmae") {
		t.Fatalf("exit %d: %q", code, errs)
	}
	if code, _, _ := runCLI(t, "explain", "--config", "../../deploy/policy.yaml"); code != exitUsage {
		t.Fatalf("no input: %d", code)
	}
}

func TestFlagsReadEnvironment(t *testing.T) {
	t.Setenv("SPECGUARD_O", "yaml")
	code, _, errs := runCLI(t, "explain", "--config", "x", "--request", "y")
	if code != exitUsage || !strings.Contains(errs, `-o must be text or json, got "yaml"`) {
		t.Fatalf("env not read: %d %q", code, errs)
	}
}

func TestExplainPodEndToEnd(t *testing.T) {
	code, out, errs := runCLI(t, "explain", "--config", "../../deploy/policy.yaml", "--pod", "../../pkg/kubelet/podgen/testdata/burstable.yaml",
		"--container", "big", "--restart-count", "2", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Allowed    bool `json:"allowed"`
		Adjustment struct {
			Annotations map[string]string `json:"annotations"`
			Env         []struct{ Key, Value string }
		} `json:"adjustment"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	a := got.Adjustment.Annotations
	if !got.Allowed || a["specguard.io/restart-count"] != "2" || a["specguard.io/qos-class"] != "Burstable" ||
		a["specguard.io/log-path"] != "/var/log/pods/team-a_api-7d9f_22222222-3333-4444-5555-666666666666/big/2.log" ||
		a["specguard.io/rules"] != "downward-api,tenant-resources" {
		t.Fatalf("annotations = %v", a)
	}
	if code, _, errs := runCLI(t, "explain", "--config", "../../deploy/policy.yaml", "--pod", "../../deploy/policy.yaml"); code != exitInput || errs == "" {
		t.Fatalf("a policy passed as a pod: exit %d %q", code, errs)
	}
}

// explain --pod goes through pkg/kubelet, so it sees the kubelet's
// oom_score_adj: a sidecar gets the lower of its own score (64Mi -> 997) and
// the smallest regular request's (256Mi -> 985), kubelet 1.37's rule.
func TestExplainPodSidecarOOMScoreAdj(t *testing.T) {
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	doc := "apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  mode: enforce\n  rules:\n" +
		"    - name: oom-floor\n      resources:\n        oomScoreAdj: {min: 990}\n        onViolation: clamp\n"
	if err := os.WriteFile(pol, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "explain", "--config", pol, "--pod", "../../pkg/kubelet/podgen/testdata/init-sidecar.yaml",
		"--container", "proxy", "--restart-count", "0")
	if code != exitOK || !strings.Contains(out, "990 (was 985)") {
		t.Fatalf("exit %d, stderr %q\n%s", code, errs, out)
	}
}
