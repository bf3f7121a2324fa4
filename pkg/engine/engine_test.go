package engine

import (
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
)

const header = "apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n"

func mustPolicy(t *testing.T, spec string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse("test.yaml", []byte(header+spec))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	return p
}

func testPod() *api.PodSandbox {
	return &api.PodSandbox{
		Id: "sb1", Name: "web-0", Namespace: "team-a", Uid: "uid-1",
		Labels:         map[string]string{"tier": "web", "team": "blue"},
		Annotations:    map[string]string{},
		RuntimeHandler: "runc",
	}
}

func testContainer() *api.Container {
	return &api.Container{
		Id: "c1", PodSandboxId: "sb1", Name: "app",
		Labels: map[string]string{"io.kubernetes.pod.name": "web-0", "io.kubernetes.container.name": "app"},
		Env:    []string{"PATH=/bin"},
		Linux: &api.LinuxContainer{Resources: &api.LinuxResources{
			Cpu:    &api.LinuxCPU{Shares: api.UInt64(512), Period: api.UInt64(100000)},
			Memory: &api.LinuxMemory{},
		}},
	}
}

func annotation(d *Decision, k string) (string, bool) {
	if d.Adjustment == nil {
		return "", false
	}
	v, ok := d.Adjustment.GetAnnotations()[k]
	return v, ok
}

func envOfAdj(d *Decision, name string) (string, bool) {
	for _, kv := range d.Adjustment.GetEnv() {
		if kv.Key == name {
			return kv.Value, true
		}
	}
	return "", false
}

func TestMetadataAnnotations(t *testing.T) {
	p := mustPolicy(t, "  node: {podLogsDir: /logs}\n")
	d := Decide(p, &Request{Pod: testPod(), Container: testContainer(), Facts: Facts{Restart: restarts.Assignment{Count: 3}}})
	if !d.Allowed {
		t.Fatalf("refused: %s", d.Reason)
	}
	want := map[string]string{
		"specguard.io/restart-count":           "3",
		"io.kubernetes.container.restartCount": "3",
		"specguard.io/log-path":                "/logs/team-a_web-0_uid-1/app/3.log",
		"specguard.io/qos-class":               "Burstable",
		"io.kubernetes.pod.name":               "web-0",
		"io.kubernetes.pod.namespace":          "team-a",
		"io.kubernetes.pod.uid":                "uid-1",
		"io.kubernetes.container.name":         "app",
	}
	for k, v := range want {
		if got, _ := annotation(d, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if _, ok := annotation(d, "specguard.io/rules"); ok {
		t.Error("rules annotation written though no rule changed anything")
	}
	pod := testPod()
	pod.Annotations["io.kubernetes.cri.sandbox-log-directory"] = "/var/log/pods/x_y_z"
	d = Decide(p, &Request{Pod: pod, Container: testContainer()})
	if got, _ := annotation(d, "specguard.io/log-path"); got != "/var/log/pods/x_y_z/app/0.log" {
		t.Errorf("log path from sandbox dir = %q", got)
	}
}

// Issue 17: the log path is confined to the pod's log directory. The
// kubelet only sends DNS-1123 names; a crictl user can send anything, and
// a name or pod identity that is not a path component gets no log path
// (and no log-directory read) rather than one somewhere else.
func TestLogPathConfined(t *testing.T) {
	p := mustPolicy(t, "  node: {podLogsDir: /logs}\n  rules:\n  - name: env\n    env: [{name: LOG, value: \"{{ .LogPath }}\"}]\n")
	for name, tc := range map[string]struct {
		mutate func(*api.PodSandbox, *api.Container)
		want   string // "" for no log path
	}{
		"a plain name":                  {want: "/logs/team-a_web-0_uid-1/app/0.log"},
		"a container name walking up":   {mutate: func(_ *api.PodSandbox, c *api.Container) { c.Name = "../../../../etc/cron.d/x" }},
		"a container name with a slash": {mutate: func(_ *api.PodSandbox, c *api.Container) { c.Name = "a/b" }},
		"a container name of ..":        {mutate: func(_ *api.PodSandbox, c *api.Container) { c.Name = ".." }},
		"a container name of .":         {mutate: func(_ *api.PodSandbox, c *api.Container) { c.Name = "." }},
		"an empty container name":       {mutate: func(_ *api.PodSandbox, c *api.Container) { c.Name = "" }},
		"a container name too long":     {mutate: func(_ *api.PodSandbox, c *api.Container) { c.Name = strings.Repeat("a", 256) }},
		"a pod name with path segments": {mutate: func(pod *api.PodSandbox, _ *api.Container) { pod.Name = "x/../../../etc" }},
		"a namespace with a slash":      {mutate: func(pod *api.PodSandbox, _ *api.Container) { pod.Namespace = "a/b" }},
		"a relative sandbox log directory": {mutate: func(pod *api.PodSandbox, _ *api.Container) {
			pod.Annotations["io.kubernetes.cri.sandbox-log-directory"] = "logs/x"
		}},
		"a sandbox log directory is cleaned": {mutate: func(pod *api.PodSandbox, _ *api.Container) {
			pod.Annotations["io.kubernetes.cri.sandbox-log-directory"] = "/var/log/pods//x_y_z/"
		}, want: "/var/log/pods/x_y_z/app/0.log"},
		"a dotted name is a path component": {mutate: func(_ *api.PodSandbox, c *api.Container) { c.Name = "app.v2" }, want: "/logs/team-a_web-0_uid-1/app.v2/0.log"},
	} {
		t.Run(name, func(t *testing.T) {
			pod, c := testPod(), testContainer()
			if tc.mutate != nil {
				tc.mutate(pod, c)
			}
			c.Labels = nil // the identity check is not what this is about
			d := Decide(p, &Request{Pod: pod, Container: c})
			if !d.Allowed {
				t.Fatalf("refused: %s", d.Reason)
			}
			got, ok := annotation(d, "specguard.io/log-path")
			if got != tc.want || ok != (tc.want != "") || d.LogPath != tc.want {
				t.Fatalf("log path annotation %q (present %v), decision %q; want %q", got, ok, d.LogPath, tc.want)
			}
			if env, _ := envOfAdj(d, "LOG"); env != tc.want {
				t.Errorf("env LOG = %q, want %q", env, tc.want)
			}
			if tc.want == "" && !hasTraceAction(d, "annotations[specguard.io/log-path]", "omit") {
				t.Errorf("no omit trace: %v", d.Trace)
			}
		})
	}
}

func hasTraceAction(d *Decision, field, action string) bool {
	for _, tr := range d.Trace {
		if tr.Field == field && tr.Action == action {
			return true
		}
	}
	return false
}

func TestIdentitySpoofRefusedOrAudited(t *testing.T) {
	c := testContainer()
	c.Labels["io.kubernetes.pod.namespace"] = "kube-system"
	d := Decide(mustPolicy(t, "  mode: enforce\n"), &Request{Pod: testPod(), Container: c})
	if d.Allowed || !strings.Contains(d.Reason, `io.kubernetes.pod.namespace="kube-system" contradicts its sandbox`) {
		t.Fatalf("enforce: allowed=%v reason=%q", d.Allowed, d.Reason)
	}
	d = Decide(mustPolicy(t, "  mode: audit\n"), &Request{Pod: testPod(), Container: c})
	if !d.Allowed {
		t.Fatal("audit refused")
	}
	if v, _ := annotation(d, "specguard.io/violations"); !strings.Contains(v, "identity: container label io.kubernetes.pod.namespace") {
		t.Fatalf("violations = %q", v)
	}
}

func TestRules(t *testing.T) {
	cases := map[string]struct {
		spec    string
		mutate  func(pod *api.PodSandbox, c *api.Container)
		refused string            // substring of the reason
		env     map[string]string // expected env in the adjustment ("" value: absent)
		check   func(t *testing.T, d *Decision)
	}{
		"env templates": {
			spec: `  rules:
  - name: downward
    env:
    - {name: RESTART_COUNT, value: "{{ .RestartCount }}"}
    - {name: POD, value: "{{ .Pod.Namespace }}/{{ .Pod.Name }} {{ .Pod.Labels.team }} {{ .Container.Name }} {{ .QOSClass }} {{ .Node.Name }}"}
    - {name: LOG, value: "{{ .LogPath }}"}
`,
			env: map[string]string{"RESTART_COUNT": "2", "POD": "team-a/web-0 blue app Burstable node-1", "LOG": "/var/log/pods/team-a_web-0_uid-1/app/2.log"},
			check: func(t *testing.T, d *Decision) {
				if v, _ := annotation(d, "specguard.io/rules"); v != "downward" {
					t.Errorf("rules = %q", v)
				}
			},
		},
		"selectors miss": {
			spec: `  rules:
  - name: other
    match: {namespaces: [team-b], podLabels: {matchLabels: {tier: web}}}
    env: [{name: X, value: "1"}]
  - name: labels
    match: {podLabels: {matchExpressions: [{key: tier, operator: NotIn, values: [web]}]}}
    env: [{name: Y, value: "1"}]
`,
			env: map[string]string{"X": "", "Y": ""},
		},
		"defaults and clamps": {
			spec: `  rules:
  - name: res
    resources:
      memory: {limit: {default: 256Mi, max: 1Gi}}
      cpu: {shares: {max: 256}, quota: {max: 400000}}
      pids: {limit: {default: 1024}}
`,
			check: func(t *testing.T, d *Decision) {
				r := d.Adjustment.GetLinux().GetResources()
				if got := r.GetMemory().GetLimit().GetValue(); got != 256<<20 {
					t.Errorf("memory limit = %d", got)
				}
				if got := r.GetCpu().GetShares().GetValue(); got != 256 {
					t.Errorf("shares = %d", got)
				}
				if got := r.GetCpu().GetQuota().GetValue(); got != 400000 {
					t.Errorf("quota (unlimited clamped to max) = %d", got)
				}
				if got := r.GetPids().GetLimit(); got != 1024 {
					t.Errorf("pids = %d", got)
				}
			},
		},
		// Issue 17: overrides in the privileged direction stop at the min.
		"oomScoreAdj override stops at the min": {
			spec: `  rules:
  - name: oom
    resources: {oomScoreAdj: {min: -500, max: 1000}}
    overrides: {allow: [resources.oomScoreAdj]}
`,
			mutate: func(pod *api.PodSandbox, _ *api.Container) { pod.Annotations["oomscoreadj.specguard.io/pod"] = "-1000" },
			check: func(t *testing.T, d *Decision) {
				if got := d.Adjustment.GetLinux().GetOomScoreAdj().GetValue(); got != -500 {
					t.Errorf("oom_score_adj = %d, want the min -500", got)
				}
			},
		},
		"cpu.period override stops at the min: at most quota.max/period.min CPUs": {
			spec: `  rules:
  - name: cpu
    resources: {cpu: {quota: {max: 100000}, period: {min: 50000, max: 1000000}}}
    overrides: {allow: [resources.cpu.period]}
`,
			mutate: func(pod *api.PodSandbox, _ *api.Container) { pod.Annotations["cpu.period.specguard.io/pod"] = "1000" },
			check: func(t *testing.T, d *Decision) {
				cpu := d.Adjustment.GetLinux().GetResources().GetCpu()
				if q, p := cpu.GetQuota().GetValue(), cpu.GetPeriod().GetValue(); q != 100000 || p != 50000 {
					t.Errorf("quota/period = %d/%d, want 100000/50000 (2 CPUs)", q, p)
				}
			},
		},
		"cpu.period override below the min refused under reject": {
			spec: `  rules:
  - name: cpu
    resources: {cpu: {quota: {max: 100000}, period: {min: 50000}}, onViolation: reject}
    overrides: {allow: [resources.cpu.period]}
`,
			mutate:  func(pod *api.PodSandbox, _ *api.Container) { pod.Annotations["cpu.period.specguard.io/pod"] = "1000" },
			refused: `rule "cpu": resources.cpu.period: override annotation cpu.period.specguard.io/pod=1000 is outside the rule's bounds`,
		},
		"an unset period is the kernel's 100000 to the period bounds": {
			spec: `  rules:
  - name: cpu
    resources: {cpu: {quota: {max: 400000}, period: {min: 200000}}}
`,
			mutate: func(_ *api.PodSandbox, c *api.Container) { c.Linux.Resources.Cpu.Period = nil },
			check: func(t *testing.T, d *Decision) {
				if p := d.Adjustment.GetLinux().GetResources().GetCpu().GetPeriod(); p.GetValue() != 200000 {
					t.Errorf("period = %v, want the min 200000", p)
				}
				if !hasTrace(d, "resources.cpu.period", "clamp", "200000 (was unset (the kernel's 100000))") {
					t.Errorf("trace = %v", d.Trace)
				}
			},
		},
		"reject above max": {
			spec: `  rules:
  - name: cap
    resources:
      memory: {limit: {max: 1Gi}}
      onViolation: reject
`,
			mutate:  func(_ *api.PodSandbox, c *api.Container) { c.Linux.Resources.Memory.Limit = api.Int64(2 << 30) },
			refused: `rule "cap": resources.memory.limit: 2Gi exceeds max 1Gi`,
		},
		"last rule wins": {
			spec: `  rules:
  - name: first
    env: [{name: A, value: "1"}]
    resources: {memory: {limit: {set: 1Gi}}}
  - name: second
    env: [{name: A, value: "2"}]
    resources: {memory: {limit: {set: 512Mi}}}
`,
			env: map[string]string{"A": "2"},
			check: func(t *testing.T, d *Decision) {
				if got := d.Adjustment.GetLinux().GetResources().GetMemory().GetLimit().GetValue(); got != 512<<20 {
					t.Errorf("limit = %d", got)
				}
				if v, _ := annotation(d, "specguard.io/rules"); v != "second" {
					t.Errorf("rules = %q", v)
				}
			},
		},
		"audit changes nothing": {
			spec: `  rules:
  - name: watch
    mode: audit
    env: [{name: A, value: "1"}]
    resources: {memory: {limit: {max: 1Gi}}, onViolation: reject}
`,
			mutate: func(_ *api.PodSandbox, c *api.Container) { c.Linux.Resources.Memory.Limit = api.Int64(2 << 30) },
			env:    map[string]string{"A": ""},
			check: func(t *testing.T, d *Decision) {
				if d.Adjustment.GetLinux() != nil {
					t.Errorf("audit adjusted linux: %v", d.Adjustment.GetLinux())
				}
				// The refusal enforce would make is a finding; the env it
				// would add is an addition, kept out of the annotation.
				v, _ := annotation(d, "specguard.io/violations")
				if v != "watch: resources.memory.limit: 2Gi exceeds max 1Gi" {
					t.Errorf("violations = %q", v)
				}
				if len(d.Additions) != 1 || d.Additions[0] != (Finding{Rule: "watch", Message: "would set env A=1"}) {
					t.Errorf("additions = %v", d.Additions)
				}
			},
		},
		"override within bounds": {
			spec: `  rules:
  - name: mem
    resources: {memory: {limit: {default: 256Mi, max: 1Gi}}}
    overrides: {allow: [resources.memory.limit]}
`,
			mutate: func(pod *api.PodSandbox, _ *api.Container) {
				pod.Annotations["memory.limit.specguard.io/container.app"] = "512Mi"
				pod.Annotations["memory.limit.specguard.io/pod"] = "768Mi"
			},
			check: func(t *testing.T, d *Decision) {
				if got := d.Adjustment.GetLinux().GetResources().GetMemory().GetLimit().GetValue(); got != 512<<20 {
					t.Errorf("limit = %d", got)
				}
			},
		},
		"override cannot lift past max": {
			spec: `  rules:
  - name: mem
    resources: {memory: {limit: {default: 256Mi, max: 1Gi}}}
    overrides: {allow: [resources.memory.limit]}
`,
			mutate: func(pod *api.PodSandbox, _ *api.Container) { pod.Annotations["memory.limit.specguard.io/pod"] = "64Gi" },
			check: func(t *testing.T, d *Decision) {
				if got := d.Adjustment.GetLinux().GetResources().GetMemory().GetLimit().GetValue(); got != 1<<30 {
					t.Errorf("limit = %d", got)
				}
			},
		},
		// 0 is within [0, max] as a number, but runc leaves a memory or pids
		// limit of 0 unset: unlimited. An override must not reach it.
		"override of 0 is unlimited, clamped to max": {
			spec: `  rules:
  - name: mem
    resources: {memory: {limit: {default: 256Mi, max: 1Gi}}, pids: {limit: {max: 4096}}}
    overrides: {allow: [resources.memory.limit, resources.pids.limit]}
`,
			mutate: func(pod *api.PodSandbox, _ *api.Container) {
				pod.Annotations["memory.limit.specguard.io/pod"] = "0"
				pod.Annotations["pids.limit.specguard.io/pod"] = "0"
			},
			check: func(t *testing.T, d *Decision) {
				res := d.Adjustment.GetLinux().GetResources()
				if got := res.GetMemory().GetLimit().GetValue(); got != 1<<30 {
					t.Errorf("memory limit = %d, want the max", got)
				}
				if got := res.GetPids().GetLimit(); got != 4096 {
					t.Errorf("pids limit = %d, want the max", got)
				}
			},
		},
		"override of 0 refused with reject": {
			spec: `  rules:
  - name: mem
    resources: {memory: {limit: {default: 256Mi, max: 1Gi}}, onViolation: reject}
    overrides: {allow: [resources.memory.limit]}
`,
			mutate:  func(pod *api.PodSandbox, _ *api.Container) { pod.Annotations["memory.limit.specguard.io/pod"] = "0" },
			refused: "override annotation memory.limit.specguard.io/pod=0 is outside the rule's bounds",
		},
		"a container's own -1 (unlimited) is held to the max": {
			spec: `  rules:
  - name: mem
    resources: {memory: {limit: {max: 1Gi}, swap: {max: 2Gi}}, cpu: {quota: {max: 200000}}}
`,
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Resources = &api.LinuxResources{
					Memory: &api.LinuxMemory{Limit: api.Int64(-1), Swap: api.Int64(-1)},
					Cpu:    &api.LinuxCPU{Quota: api.Int64(-1)},
				}
			},
			check: func(t *testing.T, d *Decision) {
				res := d.Adjustment.GetLinux().GetResources()
				if got := res.GetMemory().GetLimit().GetValue(); got != 1<<30 {
					t.Errorf("memory limit = %d, want the max", got)
				}
				if got := res.GetMemory().GetSwap().GetValue(); got != 2<<30 {
					t.Errorf("swap = %d, want the max", got)
				}
				if got := res.GetCpu().GetQuota().GetValue(); got != 200000 {
					t.Errorf("quota = %d, want the max", got)
				}
			},
		},
		"override not allowed is ignored": {
			spec: `  rules:
  - name: mem
    resources: {memory: {limit: {default: 256Mi, max: 1Gi}}}
`,
			mutate: func(pod *api.PodSandbox, _ *api.Container) {
				pod.Annotations["memory.limit.specguard.io/pod"] = "512Mi"
			},
			check: func(t *testing.T, d *Decision) {
				if got := d.Adjustment.GetLinux().GetResources().GetMemory().GetLimit().GetValue(); got != 256<<20 {
					t.Errorf("limit = %d", got)
				}
			},
		},
		"hostile override": {
			spec: `  rules:
  - name: mem
    resources: {memory: {limit: {default: 256Mi, max: 1Gi}}}
    overrides: {allow: [resources.memory.limit]}
`,
			mutate: func(pod *api.PodSandbox, _ *api.Container) {
				pod.Annotations["memory.limit.specguard.io/pod"] = "99999999999999999999999999999Ei\x00"
			},
			check: func(t *testing.T, d *Decision) {
				if got := d.Adjustment.GetLinux().GetResources().GetMemory().GetLimit().GetValue(); got != 256<<20 {
					t.Errorf("limit = %d", got)
				}
				found := false
				for _, tr := range d.Trace {
					found = found || tr.Action == "override-ignored"
				}
				if !found {
					t.Errorf("no override-ignored trace: %+v", d.Trace)
				}
			},
		},
		"swap follows limit": {
			spec: `  rules:
  - name: mem
    resources: {memory: {limit: {max: 1Gi}}}
`,
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Resources.Memory.Limit = api.Int64(2 << 30)
				c.Linux.Resources.Memory.Swap = api.Int64(2 << 30)
			},
			check: func(t *testing.T, d *Decision) {
				m := d.Adjustment.GetLinux().GetResources().GetMemory()
				if m.GetLimit().GetValue() != 1<<30 || m.GetSwap().GetValue() != 1<<30 {
					t.Errorf("limit=%d swap=%d", m.GetLimit().GetValue(), m.GetSwap().GetValue())
				}
			},
		},
		"settings": {
			spec: `  rules:
  - name: s
    resources:
      cpu: {cpus: "0-1", period: {set: 50000}}
      oomScoreAdj: {min: 100, max: 1000}
      rlimits: [{type: RLIMIT_NOFILE, soft: 1024, hard: 2048}]
      hugepages: [{pageSize: 2MB, limit: {default: 0, max: 1Gi}}]
      unified: {memory.high: "1000000"}
      blockioClass: slow
`,
			check: func(t *testing.T, d *Decision) {
				l := d.Adjustment.GetLinux()
				if l.GetResources().GetCpu().GetCpus() != "0-1" || l.GetResources().GetCpu().GetPeriod().GetValue() != 50000 {
					t.Errorf("cpu = %v", l.GetResources().GetCpu())
				}
				if l.GetOomScoreAdj().GetValue() != 100 {
					t.Errorf("oom = %v", l.GetOomScoreAdj())
				}
				if rl := d.Adjustment.GetRlimits(); len(rl) != 1 || rl[0].Hard != 2048 || rl[0].Soft != 1024 {
					t.Errorf("rlimits = %v", rl)
				}
				if l.GetResources().GetUnified()["memory.high"] != "1000000" || l.GetResources().GetBlockioClass().GetValue() != "slow" {
					t.Errorf("unified/blockio = %v", l.GetResources())
				}
				if hp := l.GetResources().GetHugepageLimits(); len(hp) != 1 || hp[0].PageSize != "2MB" || hp[0].Limit != 0 {
					t.Errorf("hugepages = %v", hp)
				}
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := mustPolicy(t, c.spec)
			pod, ctr := testPod(), testContainer()
			if c.mutate != nil {
				c.mutate(pod, ctr)
			}
			d := Decide(p, &Request{Pod: pod, Container: ctr, Facts: Facts{Restart: restarts.Assignment{Count: 2}, Node: &Node{Name: "node-1"}}})
			if c.refused != "" {
				if d.Allowed || !strings.Contains(d.Reason, c.refused) {
					t.Fatalf("allowed=%v reason=%q, want %q", d.Allowed, d.Reason, c.refused)
				}
				return
			}
			if !d.Allowed {
				t.Fatalf("refused: %s", d.Reason)
			}
			for k, want := range c.env {
				got, ok := envOfAdj(d, k)
				if want == "" && ok || want != "" && got != want {
					t.Errorf("env %s = %q (present %v), want %q", k, got, ok, want)
				}
			}
			if c.check != nil {
				c.check(t, d)
			}
		})
	}
}

func TestDecideNeverPanicsOnEmptyInput(t *testing.T) {
	p := mustPolicy(t, "  rules:\n  - name: all\n    env: [{name: A, value: \"{{ .Pod.Labels.x }}\"}]\n    resources: {memory: {limit: {max: 1Gi}}}\n")
	for _, req := range []*Request{{}, {Pod: &api.PodSandbox{}}, {Container: &api.Container{Linux: &api.LinuxContainer{}}}} {
		d := Decide(p, req)
		if !d.Allowed {
			t.Errorf("refused empty input: %s", d.Reason)
		}
	}
}

func hasTrace(d *Decision, field, action, value string) bool {
	for _, tr := range d.Trace {
		if tr.Field == field && tr.Action == action && tr.Value == value {
			return true
		}
	}
	return false
}
