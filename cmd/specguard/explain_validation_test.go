package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/encoding/protojson"
)

// explain --validation-request shows the validator's verdict on a
// recorded request, plugin by plugin and field by field.
func TestExplainValidationRequest(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.yaml")
	os.WriteFile(pol, []byte(`apiVersion: specguard.io/v1alpha1
kind: Policy
spec:
  validation: {denyHooks: true, trustedPlugins: ["30-gpu"]}
  metadata: {restartCount: false, logPath: false, qosClass: false, identity: false}
  rules:
  - name: cap
    resources:
      pids: {limit: {max: 4096}}
`), 0o644)
	c := &api.Container{Id: "c1", Name: "app", Linux: &api.LinuxContainer{Resources: &api.LinuxResources{Pids: &api.LinuxPids{Limit: 100}}}}
	req := &api.ValidateContainerAdjustmentRequest{Pod: &api.PodSandbox{Id: "sb1", Name: "web-0", Namespace: "team-a"},
		Container: c, Adjust: &api.ContainerAdjustment{}, Owners: api.NewOwningPlugins(),
		Plugins: []*api.PluginInstance{{Name: "late", Index: "95"}, {Name: "gpu", Index: "30"}, {Name: "specguard", Index: "90"}}}
	req.Adjust.SetLinuxPidLimits(1 << 20)
	req.Owners.ClaimPidsLimit("c1", "95-late")
	req.Adjust.AddHooks(&api.Hooks{Prestart: []*api.Hook{{Path: "/gpu-hook"}}})
	req.Owners.ClaimHooks("c1", "30-gpu")
	b, err := protojson.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "val.json")
	os.WriteFile(file, b, 0o644)

	code, out, errs := runCLI(t, "explain", "--config", pol, "--validation-request", file)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, w := range []string{"validation of container app of pod team-a/web-0, as 90-specguard", "verdict: REFUSED",
		"95-late", "resources.pids.limit", `rule cap`, "sets resources.pids.limit to 1048576, which the policy holds at 4096"} {
		if !strings.Contains(out, w) {
			t.Errorf("text lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "30-gpu") {
		t.Errorf("the trusted plugin's hook is a finding:\n%s", out)
	}

	code, out, errs = runCLI(t, "explain", "--config", pol, "--validation-request", file, "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got validationExplanation
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Allowed || len(got.Findings) != 1 || got.Findings[0].Plugin != "95-late" || got.Findings[0].Rule != "cap" ||
		!strings.Contains(got.Reason, `plugin "95-late"`) {
		t.Errorf("json = %+v", got)
	}

	os.WriteFile(file, []byte(`{"container": {"name": "x"}}`), 0o644)
	if code, _, errs := runCLI(t, "explain", "--config", pol, "--validation-request", file); code != exitInput || !strings.Contains(errs, "container.id is required") {
		t.Errorf("no container id: exit %d, %s", code, errs)
	}
	os.WriteFile(file, []byte(`{"adjust": 3}`), 0o644)
	if code, _, errs := runCLI(t, "explain", "--config", pol, "--validation-request", file); code != exitInput || !strings.Contains(errs, file+": want an NRI ValidateContainerAdjustmentRequest") {
		t.Errorf("bad JSON: exit %d, %s", code, errs)
	}
	if code, _, _ := runCLI(t, "explain", "--config", pol, "--validation-request", file, "--pod", file); code != exitUsage {
		t.Errorf("two inputs: exit %d", code)
	}
}
