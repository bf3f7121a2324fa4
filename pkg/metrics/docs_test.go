package metrics_test

import (
	"os"
	"strings"
	"testing"

	"github.com/specguard/specguard/pkg/metrics"
)

// TestDocumentedLabelValues: every label value the plugin can set is in
// docs/operations.md's row for its metric, so the docs and the code
// cannot drift apart again.
func TestDocumentedLabelValues(t *testing.T) {
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	row := func(metric string) string {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "| `"+metric+"`") {
				return line
			}
		}
		t.Fatalf("docs/operations.md has no row for %s", metric)
		return ""
	}
	for metric, values := range map[string][]string{
		"specguard_requests_total": {metrics.EventSynchronize, metrics.EventCreateContainer, metrics.EventValidate,
			metrics.ResultAdjusted, metrics.ResultAllowed, metrics.ResultAudit, metrics.ResultRefused, metrics.ResultError, metrics.ResultOK},
		"specguard_rule_actions_total":   {metrics.ActionRefuse, metrics.ActionAudit},
		"specguard_policy_reloads_total": {metrics.ReloadSuccess, metrics.ReloadFailure},
	} {
		r := row(metric)
		for _, v := range values {
			if !strings.Contains(r, "`"+v+"`") {
				t.Errorf("docs/operations.md's row for %s does not list `%s`", metric, v)
			}
		}
	}
}
