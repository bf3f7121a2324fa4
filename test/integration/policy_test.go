package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
)

const tenantPolicy = `  rules:
  - name: tenant
    match:
      namespaces: ["team-*"]
      excludeNamespaces: ["team-infra"]
      podLabels: {matchExpressions: [{key: tier, operator: In, values: [web]}]}
      containers: ["app", "side*"]
    env: [{name: TENANT, value: "{{ .Pod.Namespace }}"}]
    resources:
      memory: {limit: {default: 256Mi, max: 1Gi}}
      cpu: {shares: {default: 256, max: 2048}}
      pids: {limit: {default: 512}}
      oomScoreAdj: {min: 500}
      rlimits: [{type: RLIMIT_NOFILE, soft: 4096, hard: 8192}]
    overrides: {allow: [resources.memory.limit, resources.cpu.shares]}
  - name: strict-pids
    match: {namespaces: [team-a]}
    resources:
      pids: {limit: {set: 128}}
  - name: cap-reject
    match: {namespaces: [team-strict]}
    resources:
      memory: {limit: {max: 512Mi}}
      onViolation: reject
  - name: settings
    match: {namespaces: [team-settings]}
    annotations:
      add: {example.com/owner: "{{ .Pod.Labels.app }}", example.com/count: "{{ .RestartCount }}"}
      remove: [example.com/debug]
    resources:
      cpu: {cpus: "0", mems: "0", period: {set: 50000}, quota: {set: 25000}}
      memory: {reservation: {default: 64Mi}, swap: {set: 512Mi}}
      hugepages: [{pageSize: 2MB, limit: {set: 0}}]
      unified: {memory.high: "max"}
      blockioClass: slow
      rdtClass: gold
  - name: watch
    mode: audit
    match: {namespaces: [team-audit]}
    env: [{name: AUDITED, value: "1"}]
    resources: {memory: {limit: {max: 128Mi}}, onViolation: reject}
`

func webPod(r *runtime, ns, uid string, ann map[string]string) *api.PodSandbox {
	pod := r.addPod("web-0", ns, uid, ann)
	pod.Labels["tier"] = "web"
	return pod
}

func TestPolicyThroughNRI(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	r.startPlugin("--config", writePolicy(t, r.dir, tenantPolicy))

	t.Run("defaults, bounds and precedence", func(t *testing.T) {
		pod := webPod(r, "team-a", "u-a", nil)
		_, adj, err := r.create(pod, "app", nil)
		if err != nil {
			t.Fatal(err)
		}
		res := adj.GetLinux().GetResources()
		if got := res.GetMemory().GetLimit().GetValue(); got != 256<<20 {
			t.Errorf("memory limit = %d", got)
		}
		if got := res.GetCpu().GetShares().GetValue(); got != 256 {
			t.Errorf("shares = %d", got)
		}
		if got := res.GetPids().GetLimit(); got != 128 {
			t.Errorf("pids = %d (the later rule's set must win)", got)
		}
		if got := adj.GetLinux().GetOomScoreAdj().GetValue(); got != 500 {
			t.Errorf("oom_score_adj = %d", got)
		}
		if rl := adj.GetRlimits(); len(rl) != 1 || rl[0].Type != "RLIMIT_NOFILE" || rl[0].Soft != 4096 {
			t.Errorf("rlimits = %v", rl)
		}
		if v, _ := envValue(adj, "TENANT"); v != "team-a" {
			t.Errorf("TENANT = %q", v)
		}
		if got := adj.GetAnnotations()["specguard.io/rules"]; got != "tenant,strict-pids" {
			t.Errorf("rules = %q", got)
		}
	})

	t.Run("selectors", func(t *testing.T) {
		for name, c := range map[string]struct {
			ns, container string
			tier          string
		}{
			"excluded namespace": {"team-infra", "app", "web"},
			"other namespace":    {"default", "app", "web"},
			"label mismatch":     {"team-b", "app", "db"},
			"container mismatch": {"team-b", "worker", "web"},
		} {
			pod := r.addPod("p", c.ns, "u-"+name, nil)
			pod.Labels["tier"] = c.tier
			_, adj, err := r.create(pod, c.container, nil)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, ok := envValue(adj, "TENANT"); ok || changedResources(adj) {
				t.Errorf("%s: rule applied: %v %v", name, adj.GetEnv(), adj.GetLinux())
			}
		}
	})

	t.Run("overrides within bounds", func(t *testing.T) {
		pod := webPod(r, "team-b", "u-ov", map[string]string{
			"memory.limit.specguard.io/container.app": "768Mi",
			"cpu.shares.specguard.io/pod":             "99999",
			"memory.limit.specguard.io/pod":           "not-a-number",
		})
		_, adj, err := r.create(pod, "app", nil)
		if err != nil {
			t.Fatal(err)
		}
		res := adj.GetLinux().GetResources()
		if got := res.GetMemory().GetLimit().GetValue(); got != 768<<20 {
			t.Errorf("memory limit = %d, want the container override", got)
		}
		if got := res.GetCpu().GetShares().GetValue(); got != 2048 {
			t.Errorf("shares = %d, want the max (override clamped)", got)
		}
		_, adj, _ = r.create(pod, "sidecar", nil)
		if got := adj.GetLinux().GetResources().GetMemory().GetLimit().GetValue(); got != 256<<20 {
			t.Errorf("sidecar with a malformed pod override: limit = %d, want the default", got)
		}
	})

	// "0" is a number within [0, 1Gi], but runc leaves a memory limit of 0
	// unset: no limit. Through NRI it must come back as the max.
	t.Run("override asking for no limit", func(t *testing.T) {
		pod := webPod(r, "team-b", "u-zero", map[string]string{"memory.limit.specguard.io/pod": "0"})
		_, adj, err := r.create(pod, "app", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := adj.GetLinux().GetResources().GetMemory().GetLimit(); got.GetValue() != 1<<30 {
			t.Errorf("memory limit = %v, want the max 1Gi", got)
		}
	})

	t.Run("reject", func(t *testing.T) {
		pod := webPod(r, "team-strict", "u-s", nil)
		_, _, err := r.create(pod, "app", func(c *api.Container) { c.Linux.Resources.Memory.Limit = api.Int64(1 << 30) })
		if err == nil || !strings.Contains(err.Error(), `rule "cap-reject": resources.memory.limit: 1Gi exceeds max 512Mi`) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("annotations and settings", func(t *testing.T) {
		pod := r.addPod("web-0", "team-settings", "u-set", nil)
		_, adj, err := r.create(pod, "app", func(c *api.Container) { c.Annotations["example.com/debug"] = "1" })
		if err != nil {
			t.Fatal(err)
		}
		a := adj.GetAnnotations()
		if a["example.com/owner"] != "web-0" || a["example.com/count"] != "0" {
			t.Errorf("annotations = %v", a)
		}
		if _, ok := a["-example.com/debug"]; !ok {
			t.Errorf("example.com/debug not removed: %v", a)
		}
		res := adj.GetLinux().GetResources()
		cpu, mem := res.GetCpu(), res.GetMemory()
		if cpu.GetCpus() != "0" || cpu.GetMems() != "0" || cpu.GetPeriod().GetValue() != 50000 || cpu.GetQuota().GetValue() != 25000 {
			t.Errorf("cpu = %v", cpu)
		}
		if mem.GetReservation().GetValue() != 64<<20 || mem.GetSwap().GetValue() != 512<<20 {
			t.Errorf("memory = %v", mem)
		}
		if hp := res.GetHugepageLimits(); len(hp) != 1 || hp[0].GetPageSize() != "2MB" || hp[0].GetLimit() != 0 {
			t.Errorf("hugepages = %v", hp)
		}
		if res.GetUnified()["memory.high"] != "max" || res.GetBlockioClass().GetValue() != "slow" || res.GetRdtClass().GetValue() != "gold" {
			t.Errorf("unified/blockio/rdt = %v", res)
		}
	})

	t.Run("audit changes and refuses nothing", func(t *testing.T) {
		pod := webPod(r, "team-audit", "u-au", nil)
		_, adj, err := r.create(pod, "worker", func(c *api.Container) { c.Linux.Resources.Memory.Limit = api.Int64(1 << 30) })
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := envValue(adj, "AUDITED"); ok || changedResources(adj) {
			t.Errorf("audit changed the container: %v", adj)
		}
		// The refusal enforce would make is a finding; the env it would add
		// (the container has none) is an addition, kept out of the annotation.
		if v := adj.GetAnnotations()["specguard.io/violations"]; v != "watch: resources.memory.limit: 1Gi exceeds max 128Mi" {
			t.Errorf("violations = %q, want only the memory finding", v)
		}
	})
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsAndReadiness(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	addr := freeAddr(t)
	p := r.startPlugin("--config", writePolicy(t, r.dir, tenantPolicy), "--metrics-addr", addr)
	if code, _ := get(t, "http://"+addr+"/readyz"); code != 200 {
		t.Fatalf("readyz = %d while connected", code)
	}
	pod := webPod(r, "team-strict", "u-m", nil)
	r.create(pod, "app", func(c *api.Container) { c.Linux.Resources.Memory.Limit = api.Int64(1 << 30) })
	pod2 := webPod(r, "team-a", "u-m2", nil)
	r.create(pod2, "app", nil)
	_, body := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`specguard_requests_total{event="CreateContainer",result="refused"} 1`,
		`specguard_requests_total{event="CreateContainer",result="adjusted"} 1`,
		`specguard_refusals_total{rule="cap-reject"} 1`,
		`specguard_rule_actions_total{action="default",rule="tenant"}`,
		`specguard_nri_connected 1`,
		`specguard_tracked_containers 1`,
		`specguard_request_duration_seconds_bucket{event="CreateContainer"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	r.relay.close()
	r.nri.Stop()
	var code int
	if !eventually(5*time.Second, func() bool {
		code, body = get(t, "http://"+addr+"/readyz")
		return code == 503 && strings.Contains(body, "not connected")
	}) {
		t.Fatalf("readyz = %d %q after the runtime went away\n%s", code, body, p.Logs())
	}
	if code, _ := get(t, "http://"+addr+"/healthz"); code != 200 {
		t.Errorf("healthz = %d", code)
	}
}

// changedResources reports whether the merged adjustment sets any value;
// the runtime half returns empty resource messages when nothing changed.
func changedResources(adj *api.ContainerAdjustment) bool {
	res := adj.GetLinux().GetResources()
	return res.GetMemory().GetLimit() != nil || res.GetCpu().GetShares() != nil || res.GetCpu().GetQuota() != nil ||
		res.GetPids() != nil || adj.GetLinux().GetOomScoreAdj() != nil || len(adj.GetRlimits()) > 0
}

func TestAuditTrailFile(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	trail := filepath.Join(r.dir, "audit.jsonl")
	r.startPlugin("--config", writePolicy(t, r.dir, tenantPolicy), "--audit-log", trail)
	r.create(webPod(r, "team-a", "u-t1", nil), "app", nil)                          // adjusted
	r.create(r.addPod("quiet", "default", "u-t2", nil), "app", nil)                 // nothing beyond metadata
	r.create(webPod(r, "team-strict", "u-t3", nil), "app", func(c *api.Container) { // refused
		c.Linux.Resources.Memory.Limit = api.Int64(1 << 30)
	})
	// The records are written after the replies.
	var recs []map[string]any
	eventually(5*time.Second, func() bool {
		data, _ := os.ReadFile(trail)
		recs = recs[:0]
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil {
				recs = append(recs, m)
			}
		}
		return len(recs) >= 2
	})
	if len(recs) != 2 {
		t.Fatalf("audit trail has %d records, want 2 (adjusted and refused, not the quiet one): %v", len(recs), recs)
	}
	if recs[0]["pod"] != "team-a/web-0" || recs[0]["allowed"] != true || recs[0]["trace"] == nil {
		t.Errorf("adjusted record = %v", recs[0])
	}
	if recs[1]["allowed"] != false || !strings.Contains(recs[1]["reason"].(string), "cap-reject") {
		t.Errorf("refused record = %v", recs[1])
	}
}
