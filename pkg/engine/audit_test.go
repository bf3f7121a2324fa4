package engine

import (
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
)

// TestAuditClassification: an audit-mode rule's report is a finding when
// enforce would refuse, or change what the container has (or asked for),
// and an addition when enforce would fill in what it lacks. Findings go to
// specguard.io/violations, additions only to Decision.Additions and the
// trace; each kind has its own trace action (and so metric action).
func TestAuditClassification(t *testing.T) {
	cases := map[string]struct {
		rule    string // the audit rule's body, indented 4
		mutate  func(pod *api.PodSandbox, c *api.Container)
		finding string // the one report's message, if a finding
		added   string // the one report's message, if an addition
	}{
		"env the container lacks": {rule: `    env: [{name: A, value: "1"}]`, added: "would set env A=1"},
		"env the container sets otherwise": {rule: `    env: [{name: A, value: "1"}]`,
			mutate:  func(_ *api.PodSandbox, c *api.Container) { c.Env = append(c.Env, "A=0") },
			finding: `would change env A from "0" to "1"`},
		"annotation the container lacks": {rule: `    annotations: {add: {example.com/owner: "{{ .Pod.Labels.team }}"}}`,
			added: "would set annotation example.com/owner=blue"},
		"annotation the container sets otherwise": {rule: `    annotations: {add: {example.com/owner: "{{ .Pod.Labels.team }}"}}`,
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Annotations = map[string]string{"example.com/owner": "red"}
			},
			finding: `would change annotation example.com/owner from "red" to "blue"`},
		"annotation removed": {rule: `    annotations: {remove: [example.com/debug]}`,
			mutate:  func(_ *api.PodSandbox, c *api.Container) { c.Annotations = map[string]string{"example.com/debug": "1"} },
			finding: "would remove annotation example.com/debug"},
		"default where unset": {rule: `    resources: {memory: {limit: {default: 256Mi}}}`,
			added: "would default resources.memory.limit from unset to 256Mi"},
		"set where unset": {rule: `    resources: {pids: {limit: {set: 100}}}`,
			added: "would set resources.pids.limit from unset to 100"},
		"set over the container's value": {rule: `    resources: {cpu: {shares: {set: 1024}}}`,
			finding: "would set resources.cpu.shares from 512 to 1024"},
		"clamp of the container's value": {rule: `    resources: {cpu: {shares: {max: 256}}}`,
			finding: "would clamp resources.cpu.shares from 512 to 256"},
		"clamp of an unset (unlimited) value": {rule: `    resources: {memory: {limit: {max: 1Gi}}}`,
			finding: "would clamp resources.memory.limit from unset to 1Gi"},
		"refusal": {rule: "    resources: {cpu: {shares: {max: 256}}, onViolation: reject}",
			finding: "resources.cpu.shares: 512 exceeds max 256"},
		"override within bounds": {rule: "    resources: {memory: {limit: {max: 1Gi}}}\n    overrides: {allow: [resources.memory.limit]}",
			mutate: func(pod *api.PodSandbox, _ *api.Container) {
				pod.Annotations["memory.limit.specguard.io/container.app"] = "512Mi"
			},
			added: "would override resources.memory.limit from unset to 512Mi"},
		"override beyond bounds": {rule: "    resources: {memory: {limit: {max: 1Gi}}}\n    overrides: {allow: [resources.memory.limit]}",
			mutate: func(pod *api.PodSandbox, _ *api.Container) {
				pod.Annotations["memory.limit.specguard.io/container.app"] = "4Gi"
			},
			finding: "would override-clamped resources.memory.limit from unset to 1Gi"},
		"cpuset where unset": {rule: `    resources: {cpu: {cpus: "0-1"}}`, added: "would set resources.cpu.cpus to 0-1"},
		"cpuset over the container's": {rule: `    resources: {cpu: {cpus: "0-1"}}`,
			mutate:  func(_ *api.PodSandbox, c *api.Container) { c.Linux.Resources.Cpu.Cpus = "2" },
			finding: "would set resources.cpu.cpus to 0-1"},
		"hugepages default": {rule: `    resources: {hugepages: [{pageSize: 2MB, limit: {default: 1Gi}}]}`,
			added: "would default resources.hugepages[2MB] to 1073741824"},
		"rlimit the container lacks": {rule: `    resources: {rlimits: [{type: RLIMIT_NOFILE, soft: 4096, hard: 4096}]}`,
			added: "would set rlimit RLIMIT_NOFILE soft=4096 hard=4096"},
		"rlimit the container sets otherwise": {rule: `    resources: {rlimits: [{type: RLIMIT_NOFILE, soft: 4096, hard: 4096}]}`,
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Rlimits = []*api.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 1024}}
			},
			finding: "would set rlimit RLIMIT_NOFILE soft=4096 hard=4096"},
		"unified key the container lacks": {rule: `    resources: {unified: {memory.high: "1073741824"}}`,
			added: "would set unified memory.high=1073741824"},
		"unified key the container sets otherwise": {rule: `    resources: {unified: {memory.high: "1073741824"}}`,
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Resources.Unified = map[string]string{"memory.high": "max"}
			},
			finding: "would set unified memory.high=1073741824"},
		"seccomp injected over Unconfined": {rule: "    security: {seccomp: {unconfined: inject}}",
			finding: "would inject the runtime's default seccomp profile (container runs Unconfined)"},
		"mask over nothing": {rule: "    security: {maskedPaths: [/etc/shadow]}", added: "would mask /etc/shadow"},
		"mask over the container's mount": {rule: "    security: {maskedPaths: [/etc/shadow]}",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Mounts = append(c.Mounts, &api.Mount{Destination: "/etc/shadow/", Source: "/srv/shadow", Type: "bind"})
			},
			finding: "would mask /etc/shadow"},
		"template that fails": {rule: `    env: [{name: A, value: "{{ .Pod.Labels.team }}"}]`,
			mutate:  func(pod *api.PodSandbox, _ *api.Container) { pod.Labels["team"] = "a\x00b" },
			finding: "env A: rendered value contains a NUL byte"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := mustPolicy(t, "  rules:\n  - name: watch\n    mode: audit\n"+c.rule+"\n")
			pod, ctr := testPod(), testContainer()
			if c.mutate != nil {
				c.mutate(pod, ctr)
			}
			d := Decide(p, &Request{Pod: pod, Container: ctr})
			if !d.Allowed {
				t.Fatalf("audit refused: %s", d.Reason)
			}
			if len(d.Adjustment.GetEnv()) != 0 || d.Adjustment.GetLinux() != nil || len(d.Adjustment.GetMounts()) != 0 ||
				len(d.Adjustment.GetRlimits()) != 0 || len(d.Rules) != 0 {
				t.Errorf("audit changed the container: %v", d.Adjustment)
			}
			if _, ok := annotation(d, "example.com/owner"); ok {
				t.Error("audit set an annotation")
			}
			v, hasV := annotation(d, "specguard.io/violations")
			var actions []string
			for _, e := range d.Trace {
				if e.Rule == "watch" && e.Action != "match" {
					actions = append(actions, e.Action)
				}
			}
			if c.finding != "" {
				if len(d.Violations) != 1 || !strings.Contains(d.Violations[0].Message, c.finding) || len(d.Additions) != 0 {
					t.Fatalf("violations %v, additions %v; want the one finding %q", d.Violations, d.Additions, c.finding)
				}
				if !hasV || !strings.HasPrefix(v, "watch: ") || !strings.Contains(v, c.finding) {
					t.Errorf("specguard.io/violations = %q, want the finding", v)
				}
				if len(actions) != 1 || actions[0] != ActionAudit {
					t.Errorf("trace actions %v, want [%s]", actions, ActionAudit)
				}
				return
			}
			if len(d.Additions) != 1 || d.Additions[0] != (Finding{Rule: "watch", Message: c.added}) || len(d.Violations) != 0 {
				t.Fatalf("violations %v, additions %v; want the one addition %q", d.Violations, d.Additions, c.added)
			}
			if hasV {
				t.Errorf("an addition reached specguard.io/violations: %q", v)
			}
			if len(actions) != 1 || actions[0] != ActionAuditAdd {
				t.Errorf("trace actions %v, want [%s]", actions, ActionAuditAdd)
			}
		})
	}
}

// TestAuditNothingToReport: values the container already has as the rule
// wants them are neither findings nor additions.
func TestAuditNothingToReport(t *testing.T) {
	p := mustPolicy(t, `  rules:
  - name: watch
    mode: audit
    env: [{name: A, value: "1"}]
    annotations: {add: {example.com/owner: blue}, remove: [example.com/absent]}
    resources: {cpu: {shares: {set: 512}}, rlimits: [{type: RLIMIT_NOFILE, soft: 10, hard: 10}]}
`)
	c := testContainer()
	c.Env = append(c.Env, "A=1")
	c.Annotations = map[string]string{"example.com/owner": "blue"}
	c.Rlimits = []*api.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 10}}
	d := Decide(p, &Request{Pod: testPod(), Container: c})
	if len(d.Violations)+len(d.Additions) != 0 {
		t.Fatalf("violations %v, additions %v; want none", d.Violations, d.Additions)
	}
}
