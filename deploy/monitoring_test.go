package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var monitoringDir = filepath.Join(chartDir, "monitoring")

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert  string `json:"alert"`
			Record string `json:"record"`
			Expr   string `json:"expr"`
		} `json:"rules"`
	} `json:"groups"`
}

// TestAlertRules: `promtool check rules` accepts monitoring/rules.yaml,
// `promtool test rules` passes monitoring/rules_test.yaml, and that file
// tests every alert.
func TestAlertRules(t *testing.T) {
	rules, err := filepath.Abs(filepath.Join(monitoringDir, "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := goTool(t, "promtool", "check", "rules", rules); err != nil {
		t.Fatal(err)
	} else if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %s", out)
	}
	tests, _ := filepath.Abs(filepath.Join(monitoringDir, "rules_test.yaml"))
	if _, err := goTool(t, "promtool", "test", "rules", tests); err != nil {
		t.Fatal(err)
	}

	var rf ruleFile
	readYAML(t, rules, &rf)
	var tf struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	readYAML(t, tests, &tf)
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	var alerts []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if !firing[r.Alert] {
				t.Errorf("alert %s is never tested firing in rules_test.yaml", r.Alert)
			}
		}
	}
	// The list: not connected, reload failures, refusals, p99
	// over budget, restart-count drift, audit findings.
	for _, want := range []string{"SpecguardNotConnected", "SpecguardPolicyReloadFailed", "SpecguardRefusalsRising",
		"SpecguardCreateContainerSlow", "SpecguardRestartCountDrift", "SpecguardAuditFindings"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("rules.yaml lacks alert %s", want)
		}
	}
	if len(quiet) < 4 {
		t.Errorf("only %d alerts are tested staying quiet", len(quiet))
	}
}

// dashboardQueries returns every PromQL query of monitoring/dashboard.json:
// the panels' targets and the template variables' queries.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	data, err := os.ReadFile(filepath.Join(monitoringDir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	var q []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			q = append(q, tg.Expr)
		}
	}
	return q
}

// TestDashboardQueries: every query of the dashboard parses as PromQL
// (promtool check rules on a rule file holding each as a recording rule,
// Grafana's variables replaced by what they expand to) and covers what the
// dashboard is for.
func TestDashboardQueries(t *testing.T) {
	queries := dashboardQueries(t)
	grafana := strings.NewReplacer("$__rate_interval", "5m", "$node", ".*")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, q := range queries {
		fmt.Fprintf(&b, "      - record: dashboard:query_%d\n        expr: %q\n", i, grafana.Replace(q))
	}
	f := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := goTool(t, "promtool", "check", "rules", f)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(queries)); !strings.Contains(out, want) {
		t.Errorf("promtool check rules: %s, want %s", out, want)
	}
	all := strings.Join(queries, "\n")
	for _, want := range []string{
		"specguard_requests_total", "specguard_refusals_total", "specguard_rule_actions_total",
		"specguard_request_duration_seconds_bucket", "specguard_tracked_containers",
		"specguard_policy_reloads_total", "specguard_nri_connected", "by (rule)", "by (event, le)",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no dashboard query uses %s", want)
		}
	}
	// A broken query fails the same check: the check is not vacuous.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("groups:\n  - name: x\n    rules:\n      - record: x:y\n        expr: 'sum by (rule (specguard_refusals_total)'\n"), 0o644)
	if _, err := goTool(t, "promtool", "check", "rules", bad); err == nil {
		t.Error("promtool check rules accepted a broken query")
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
