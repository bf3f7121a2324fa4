package integration

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
)

// TestMonitoringUsesExportedMetrics: every specguard metric the alerts
// (deploy/helm/specguard/monitoring/rules.yaml) and the dashboard
// (dashboard.json) query is in a real scrape of the running binary, after
// an adjusted and a refused container.
func TestMonitoringUsesExportedMetrics(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	addr := freeAddr(t)
	r.startPlugin("--config", writePolicy(t, r.dir, tenantPolicy), "--metrics-addr", addr)
	r.create(webPod(r, "team-strict", "u-mon1", nil), "app", func(c *api.Container) { c.Linux.Resources.Memory.Limit = api.Int64(1 << 30) })
	r.create(webPod(r, "team-a", "u-mon2", nil), "app", nil)
	_, body := get(t, "http://"+addr+"/metrics")

	// The series names a scrape offers: samples' names, histograms' too.
	exported := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		exported[name] = true
	}

	rules, err := os.ReadFile("../../deploy/helm/specguard/monitoring/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../../deploy/helm/specguard/monitoring/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	queries := map[string]string{"rules.yaml": string(rules)}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries["dashboard.json"] += tg.Expr + "\n"
		}
	}
	names := regexp.MustCompile(`\bspecguard_[a-z0-9_]+`)
	for file, q := range queries {
		used := map[string]bool{}
		for _, n := range names.FindAllString(q, -1) {
			used[n] = true
		}
		if len(used) < 6 {
			t.Errorf("%s queries %d specguard metrics, want at least 6: %v", file, len(used), used)
		}
		for n := range used {
			if !exported[n] {
				t.Errorf("%s queries %s, which specguard does not export", file, n)
			}
		}
	}
}
