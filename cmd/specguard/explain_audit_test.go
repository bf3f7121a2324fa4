package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/specguard/specguard/pkg/engine"
)

// explain keeps an audit rule's findings and additions apart, in JSON
// ("violations", "additions") and in text.
func TestExplainAuditKinds(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "audit.yaml")
	os.WriteFile(pol, []byte(`apiVersion: specguard.io/v1alpha1
kind: Policy
spec:
  mode: audit
  rules:
  - name: downward-api
    env:
    - {name: RESTART_COUNT, value: "{{ .RestartCount }}"}
    - {name: TIER, value: "{{ .Pod.Labels.tier }}"}
`), 0o644)
	req := filepath.Join(dir, "req.json")
	os.WriteFile(req, []byte(`{"pod": {"id": "sb1", "name": "web-0", "namespace": "team-a", "uid": "u1", "labels": {"tier": "web"}},
 "container": {"id": "c1", "name": "app", "env": ["TIER=db"], "labels": {"io.kubernetes.pod.name": "other"}}}`), 0o644)
	code, out, errs := runCLI(t, "explain", "--config", pol, "--request", req, "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Violations []engine.Finding `json:"violations"`
		Additions  []engine.Finding `json:"additions"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantV := []engine.Finding{
		{Rule: "identity", Message: `container label io.kubernetes.pod.name="other" contradicts its sandbox ("web-0") (pod: "team-a/web-0", container: app)`},
		{Rule: "downward-api", Message: `would change env TIER from "db" to "web"`, Field: "env[TIER]"},
	}
	wantA := []engine.Finding{{Rule: "downward-api", Message: "would set env RESTART_COUNT=0"}}
	if len(got.Violations) != len(wantV) || got.Violations[0] != wantV[0] || got.Violations[1] != wantV[1] {
		t.Errorf("violations %v, want %v", got.Violations, wantV)
	}
	if len(got.Additions) != 1 || got.Additions[0] != wantA[0] {
		t.Errorf("additions %v, want %v", got.Additions, wantA)
	}

	code, out, errs = runCLI(t, "explain", "--config", pol, "--request", req)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	_, rest, ok1 := strings.Cut(out, "\naudit findings")
	findings, additions, ok := strings.Cut(rest, "\naudit additions")
	if !ok1 || !ok || !strings.Contains(findings, `downward-api: would change env TIER from "db" to "web"`) ||
		strings.Contains(findings, "RESTART_COUNT=0") || !strings.Contains(additions, "downward-api: would set env RESTART_COUNT=0") {
		t.Errorf("text output does not list findings, then additions:\n%s", out)
	}
}
