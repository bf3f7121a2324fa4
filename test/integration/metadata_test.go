package integration

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
)

func TestMetadataOnEveryContainer(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	r.startPlugin()
	pod := r.addPod("web-0", "shop", "uid-1", map[string]string{"io.kubernetes.cri.sandbox-log-directory": "/var/log/pods/shop_web-0_uid-1"})
	_, adj, err := r.create(pod, "app", func(c *api.Container) {
		c.Linux.Resources.Cpu = &api.LinuxCPU{Shares: api.UInt64(1024), Quota: api.Int64(100000), Period: api.UInt64(100000)}
		c.Linux.Resources.Memory = &api.LinuxMemory{Limit: api.Int64(1 << 30)}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"specguard.io/restart-count":           "0",
		"specguard.io/log-path":                "/var/log/pods/shop_web-0_uid-1/app/0.log",
		"specguard.io/qos-class":               "Guaranteed",
		"io.kubernetes.pod.name":               "web-0",
		"io.kubernetes.pod.namespace":          "shop",
		"io.kubernetes.pod.uid":                "uid-1",
		"io.kubernetes.container.name":         "app",
		"io.kubernetes.container.restartCount": "0",
	}
	for k, v := range want {
		if got := adj.GetAnnotations()[k]; got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// Without the sandbox's log directory the kubelet's layout is used.
	pod2 := r.addPod("db-0", "shop", "uid-2", nil)
	_, adj, err = r.create(pod2, "db", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := adj.GetAnnotations()["specguard.io/log-path"]; got != "/var/log/pods/shop_db-0_uid-2/db/0.log" {
		t.Errorf("log path = %q", got)
	}
	if got := adj.GetAnnotations()["specguard.io/qos-class"]; got != "BestEffort" {
		t.Errorf("qos = %q", got)
	}
}

// TestIdentityModes: a container whose kubelet labels contradict its
// sandbox (as critest's "preserving container attributes" sends) is
// admitted under the built-in default policy and the audit overlay, with
// the finding reported, and refused under the shipped enforcing policy. In
// every case specguard goes by the sandbox: the annotations it writes
// carry the sandbox's identity and the rules that apply are the
// sandbox's namespace's.
func TestIdentityModes(t *testing.T) {
	t.Parallel()
	spoof := func(c *api.Container) {
		c.Labels["io.kubernetes.pod.name"] = "fake-pod-name"
		c.Labels["io.kubernetes.pod.namespace"] = "team-fake"
		c.Labels["io.kubernetes.pod.uid"] = "fake-uid"
	}
	cases := map[string]struct {
		policy   string // a policy file; "" for the built-in default, "inline" for identityCheck: off
		honest   bool   // labels that agree with the sandbox
		refused  bool
		reported bool
	}{
		"built-in default reports":      {policy: "", reported: true},
		"audit overlay reports":         {policy: "../../deploy/overlays/audit/policy.yaml", reported: true},
		"deploy/policy.yaml refuses":    {policy: "../../deploy/policy.yaml", refused: true},
		"enforce overlay refuses":       {policy: "../../deploy/overlays/enforce/policy.yaml", refused: true},
		"identityCheck off admits":      {policy: "inline"},
		"honest labels, enforce admits": {policy: "../../deploy/policy.yaml", honest: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t)
			var args []string
			switch c.policy {
			case "":
			case "inline":
				args = []string{"--config", writePolicy(t, r.dir, "  mode: enforce\n  metadata: {identityCheck: off}\n")}
			default:
				args = []string{"--config", c.policy}
			}
			mutate := spoof
			if c.honest {
				mutate = nil
			}
			p := r.startPlugin(args...)
			pod := r.addPod("web-0", "shop", "uid-1", nil)
			_, adj, err := r.create(pod, "app", mutate)
			if c.refused {
				for _, w := range []string{`rule "identity": container label io.kubernetes.pod.name="fake-pod-name" contradicts its sandbox ("web-0")`,
					`io.kubernetes.pod.namespace="team-fake" contradicts its sandbox ("shop")`, `io.kubernetes.pod.uid="fake-uid"`} {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Fatalf("err = %v, want a refusal saying %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			want := map[string]string{"io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "shop",
				"io.kubernetes.pod.uid": "uid-1", "io.kubernetes.container.name": "app"}
			for k, v := range want {
				if got := adj.GetAnnotations()[k]; got != v {
					t.Errorf("annotation %s = %q, want the sandbox's %q", k, got, v)
				}
			}
			v, ok := adj.GetAnnotations()["specguard.io/violations"]
			if c.reported != ok || (ok && !strings.Contains(v, `identity: container label io.kubernetes.pod.namespace="team-fake" contradicts its sandbox ("shop")`)) {
				t.Errorf("specguard.io/violations = %q (present %v), want reported = %v", v, ok, c.reported)
			}
			if c.reported && !p.logSays("container adjusted with audit findings", 1) {
				t.Fatalf("the finding is not logged:\n%s", p.Logs())
			}
		})
	}
}

// TestIdentityRulesFollowTheSandbox: a rule for the namespace the labels
// claim does not apply; the sandbox's does, with the sandbox's values.
func TestIdentityRulesFollowTheSandbox(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	r.startPlugin("--config", writePolicy(t, r.dir, `  metadata: {identityCheck: audit}
  rules:
  - name: shop
    match: {namespaces: [shop]}
    env: [{name: WHO, value: "{{ .Pod.Namespace }}/{{ .Pod.Name }}/{{ .Pod.UID }}"}]
  - name: claimed
    match: {namespaces: [kube-system]}
    env: [{name: CLAIMED, value: "1"}]
`))
	pod := r.addPod("web-0", "shop", "uid-1", nil)
	_, adj, err := r.create(pod, "app", func(c *api.Container) {
		c.Labels["io.kubernetes.pod.name"] = "etcd-0"
		c.Labels["io.kubernetes.pod.namespace"] = "kube-system"
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := envValue(adj, "WHO"); got != "shop/web-0/uid-1" {
		t.Errorf("WHO = %q, want the sandbox's shop/web-0/uid-1", got)
	}
	if got, ok := envValue(adj, "CLAIMED"); ok {
		t.Errorf("the claimed namespace's rule applied: CLAIMED=%q", got)
	}
	if got := adj.GetAnnotations()["specguard.io/rules"]; got != "shop" {
		t.Errorf("specguard.io/rules = %q, want shop", got)
	}
}

func TestRestartCountsContinueAcrossPluginRestart(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	p := r.startPlugin()
	pod := r.addPod("web-0", "shop", "uid-1", nil)
	var last *api.Container
	for want := 0; want < 3; want++ {
		c, adj, err := r.create(pod, "app", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := adj.GetAnnotations()["specguard.io/restart-count"]; got != strconv.Itoa(want) {
			t.Fatalf("attempt %d: restart-count = %q", want, got)
		}
		// The kubelet keeps only the newest dead container.
		if last != nil {
			r.remove(pod, last)
		}
		last = c
	}
	p.kill()
	r.startPlugin()
	_, adj, err := r.create(pod, "app", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := adj.GetAnnotations()["specguard.io/restart-count"]; got != "3" {
		t.Fatalf("after plugin restart: restart-count = %q, want 3", got)
	}
	// Another container name in the same pod starts at 0, and so does a new pod UID.
	if _, adj, _ := r.create(pod, "sidecar", nil); adj.GetAnnotations()["specguard.io/restart-count"] != "0" {
		t.Errorf("sidecar count = %q", adj.GetAnnotations()["specguard.io/restart-count"])
	}
	r.removePod(pod)
	pod2 := r.addPod("web-0", "shop", "uid-2", nil)
	if _, adj, _ := r.create(pod2, "app", nil); adj.GetAnnotations()["specguard.io/restart-count"] != "0" {
		t.Errorf("new pod UID count = %q", adj.GetAnnotations()["specguard.io/restart-count"])
	}
}

func TestKubeletCountWinsAndDriftIsLogged(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	p := r.startPlugin()
	pod := r.addPod("web-0", "shop", "uid-1", nil)
	withKubelet := func(n string) func(*api.Container) {
		return func(c *api.Container) { c.Annotations["io.kubernetes.container.restartCount"] = n }
	}
	if _, adj, _ := r.create(pod, "app", withKubelet("4")); adj.GetAnnotations()["specguard.io/restart-count"] != "4" {
		t.Fatalf("kubelet count not used: %v", adj.GetAnnotations())
	}
	if _, adj, _ := r.create(pod, "app", withKubelet("9")); adj.GetAnnotations()["specguard.io/restart-count"] != "9" {
		t.Fatalf("kubelet count not used: %v", adj.GetAnnotations())
	}
	waitMetric(t, p, "specguard_restart_count_drift_total", 1, 2*time.Second)
	if !p.logSays("restart count drift", 1) {
		t.Fatalf("no drift logged:\n%s", p.Logs())
	}
}

func TestLogDirectoryFallback(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	logs := t.TempDir()
	policy := writePolicy(t, r.dir, "  node: {podLogsDir: "+logs+"}\n")
	r.startPlugin("--config", policy)
	mkLogs(t, logs+"/shop_web-0_uid-1/app", "0.log", "1.log", "4.log.20240101-000000.gz")
	pod := r.addPod("web-0", "shop", "uid-1", nil)
	_, adj, err := r.create(pod, "app", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := adj.GetAnnotations()["specguard.io/restart-count"]; got != "5" {
		t.Fatalf("restart-count from log dir = %q, want 5", got)
	}
	if got := adj.GetAnnotations()["specguard.io/log-path"]; got != logs+"/shop_web-0_uid-1/app/5.log" {
		t.Fatalf("log path = %q", got)
	}
}
