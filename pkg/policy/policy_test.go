package policy

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestContractExampleLoads(t *testing.T) {
	p, err := Load("testdata/contract.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 1 {
		t.Fatalf("rules = %d", len(p.Rules))
	}
	r := p.Rules[0]
	if b := r.Resources.Bounds[MemoryLimit]; b == nil || b.Default != 256<<20 || b.Max != 2<<30 {
		t.Fatalf("memory bounds = %+v", b)
	}
	if b := r.Resources.Bounds[CPUPeriod]; !b.HasSet || b.Set != 100000 {
		t.Fatalf("period = %+v", b)
	}
	if !r.Overrides[MemoryLimit] || !r.Overrides[CPUShares] || r.Overrides[PidsLimit] {
		t.Fatalf("overrides = %v", r.Overrides)
	}
	s := &Subject{Namespace: "team-a", PodLabels: map[string]string{"tier": "web"}, Container: "app", Image: "registry.example/app:1", RuntimeHandler: "runc"}
	if !r.Matches(s) {
		t.Fatal("rule does not match its subject")
	}
	for name, mutate := range map[string]func(s *Subject){
		"namespace": func(s *Subject) { s.Namespace = "other" },
		"labels":    func(s *Subject) { s.PodLabels = map[string]string{"tier": "db"} },
		"image":     func(s *Subject) { s.Image = "docker.io/app" },
		"handler":   func(s *Subject) { s.RuntimeHandler = "kata" },
	} {
		c := *s
		mutate(&c)
		if r.Matches(&c) {
			t.Errorf("%s: matched", name)
		}
	}
	out, err := r.Env[0].Render(&TemplateData{RestartCount: 3})
	if err != nil || out != "3" {
		t.Fatalf("render = %q, %v", out, err)
	}
}

func TestDefaultPolicy(t *testing.T) {
	p := Default()
	if !p.Metadata.RestartCount || p.Mode != ModeEnforce || p.Node.PodLogsDir != DefaultPodLogsDir {
		t.Fatalf("default = %+v", p)
	}
}

func TestBadPoliciesReportEveryProblemWithLines(t *testing.T) {
	cases := map[string]struct {
		doc  string
		want []string // each must appear in the error text
	}{
		"wrong kind and version": {"apiVersion: v1\nkind: Pod\n", []string{":1: apiVersion: must be", ":2: kind: must be"}},
		"unknown fields": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  modes: audit\n  rules:\n  - name: a\n    Match: {}\n",
			[]string{":4: spec.modes: unknown field", `:7: spec.rules[0].Match: unknown field (did you mean "match"?)`}},
		"bad values": {`apiVersion: specguard.io/v1alpha1
kind: Policy
spec:
  mode: loud
  rules:
  - name: r1
    match: {namespaces: ["a[b"], podLabels: {matchExpressions: [{key: x, operator: Maybe}]}}
    env: [{name: "A=B", value: x}, {name: OK, value: "{{ .Nope }}"}]
    resources:
      memory: {limit: {min: 2Gi, max: 1Gi}}
      cpu: {shares: {default: 1.5}, quota: {max: lots}}
      oomScoreAdj: {max: 5000}
      onViolation: explode
  - name: r1
  - {}
`, []string{":4: spec.mode: must be", "spec.rules[0].match.namespaces[0]", "spec.rules[0].match.podLabels", "spec.rules[0].env[0].name",
			"spec.rules[0].env[1].value: bad template", "memory.limit.min: min 2Gi is above max 1Gi", "cpu.shares.default: \"1.5\" is not a whole number",
			"cpu.quota.max: \"lots\" is not a number", "oomScoreAdj.max: 5000 is out of range", "onViolation: must be", "spec.rules[1].name: duplicate rule name",
			"spec.rules[2].name: required"}},
		"wrong shapes":   {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules: {name: a}\n", []string{":4: spec.rules: want a list, got a mapping"}},
		"duplicate keys": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  mode: audit\n  mode: off\n", []string{":5: spec.mode: duplicate field"}},
		"not yaml":       {"apiVersion: [\n", []string{"not valid YAML"}},
		"empty":          {"  \n", []string{"document is empty"}},
		"unlimited as a bound": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    resources: {memory: {limit: {max: 0}, swap: {default: -1, max: 2Gi}}, pids: {limit: {set: 0, max: 10}}}\n",
			[]string{"memory.limit.max: 0 means no limit to the runtime", "memory.swap.default: -1 means no limit", "pids.limit.set: 0 means no limit"}},
		"swap of 0 as a bound": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    resources: {memory: {swap: {max: 0}}}\n",
			[]string{":6: spec.rules[0].resources.memory.swap.max: 0 means no limit to the runtime"}},
		// oom_score_adj and the CFS period are privileged downwards: -1000
		// exempts a container from the OOM killer, and a shorter period
		// with the same quota is more CPUs.
		"override of oomScoreAdj without min": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    resources: {oomScoreAdj: {max: 1000}}\n    overrides:\n      allow: [resources.oomScoreAdj]\n",
			[]string{`p.yaml:8: spec.rules[0].overrides.allow[0]: "resources.oomScoreAdj" needs a min in this rule`, "-1000"}},
		"override of cpu.period without min": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    resources: {cpu: {quota: {max: 100000}, period: {max: 1000000}}}\n    overrides:\n      allow: [resources.cpu.period]\n",
			[]string{`p.yaml:8: spec.rules[0].overrides.allow[0]: "resources.cpu.period" needs a min in this rule`, "quota/period"}},
		"override of cpu.period without a quota bound": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    resources: {cpu: {period: {min: 50000, max: 1000000}}}\n    overrides:\n      allow: [resources.cpu.period]\n",
			[]string{`p.yaml:8: spec.rules[0].overrides.allow[0]: "resources.cpu.period" needs resources.cpu.quota with a max or set in this rule`}},
		// A device node is what its type and numbers say: a bare path
		// admits only a device the kernel numbers for that name.
		"allowed devices by name only": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    security:\n      devices: deny\n      allowedDevices:\n      - \"/dev/nvidia*\"\n      - {path: /dev/sda}\n      - {path: /dev/x, type: q, major: 1}\n      - {path: /dev/y, type: c}\n      - {path: /dev/p, type: p, major: 3}\n      - {path: dev/z, type: b, major: 8}\n      - {path: /dev/w, type: c, major: -1}\n",
			[]string{`p.yaml:9: spec.rules[0].security.allowedDevices[0]: "/dev/nvidia*" is not a well-known device`, `{path: "/dev/nvidia*", type: c, major: N}`,
				`p.yaml:10: spec.rules[0].security.allowedDevices[1].type: required`,
				`p.yaml:11: spec.rules[0].security.allowedDevices[2].type: must be c, b, u or p, got "q"`,
				`p.yaml:12: spec.rules[0].security.allowedDevices[3].major: required for a c device`,
				`p.yaml:13: spec.rules[0].security.allowedDevices[4].major: a FIFO (p) has no device numbers`,
				`spec.rules[0].security.allowedDevices[5].path: path pattern "dev/z" must be absolute`,
				`p.yaml:15: spec.rules[0].security.allowedDevices[6].major: -1 is negative`}},
		"allowed devices of the wrong shape": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    security:\n      allowedDevices: [[a], 3, {path: /dev/a, type: c, major: 1, mode: rw}]\n",
			[]string{`spec.rules[0].security.allowedDevices[0]: want a device path or a mapping, got a list`, `spec.rules[0].security.allowedDevices[1]: want a device path or a mapping, got "3"`,
				`spec.rules[0].security.allowedDevices[2].mode: unknown field`}},
		// NRI does not authenticate plugin names: trust binds the index.
		"trusted plugins without an index": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  validation:\n    trustedPlugins: [gpu-*, \"*-dra\", 1-x, \"10-a[\"]\n",
			[]string{`p.yaml:5: spec.validation.trustedPlugins[0]: "gpu-*" does not start with the plugin's two-digit index: write "<index>-<name>"`,
				`spec.validation.trustedPlugins[1]: "*-dra" does not start`, `spec.validation.trustedPlugins[2]: "1-x" does not start`,
				`spec.validation.trustedPlugins[3]`}},
		"override without max": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    resources: {memory: {limit: {default: 1Gi}}}\n    overrides: {allow: [resources.memory.limit, resources.bogus]}\n",
			[]string{"overrides.allow[0]: \"resources.memory.limit\" needs a max", "overrides.allow[1]: \"resources.bogus\" cannot be overridden"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := Parse("p.yaml", []byte(c.doc))
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

func TestCandidatesKeepRuleOrder(t *testing.T) {
	doc := `apiVersion: specguard.io/v1alpha1
kind: Policy
spec:
  rules:
  - {name: r0, match: {namespaces: [a]}}
  - {name: r1}
  - {name: r2, match: {namespaces: [b, a]}}
  - {name: r3, match: {namespaces: ["a*"]}}
  - {name: r4, mode: off}
`
	p, err := Parse("p.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got := p.Candidates("a", nil)
	want := []int32{0, 1, 2, 3}
	if len(got) != len(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v want %v", got, want)
		}
	}
	// "a*" cannot match a namespace that does not start with "a": indexed
	// by first byte, it is not a candidate for "zzz" but is for "ab".
	if got := p.Candidates("zzz", nil); len(got) != 1 || got[0] != 1 {
		t.Fatalf("zzz: %v", got)
	}
	if got := p.Candidates("ab", nil); len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Fatalf("ab: %v", got)
	}
	if got := p.Candidates("", nil); len(got) != 1 || got[0] != 1 {
		t.Fatalf("empty namespace: %v", got)
	}
}

func TestLoadMissingAndHugeFile(t *testing.T) {
	if _, err := Load("testdata/nope.yaml"); err == nil || !os.IsNotExist(errors.Unwrap(err)) && !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
	big := make([]byte, MaxDocumentSize+1)
	if _, err := Parse("big.yaml", big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("huge: %v", err)
	}
}

// What a valid policy asks for that will not happen is a warning with its
// line, not an error: runc refuses mounts under /proc but on lxcfs's files.
func TestWarnings(t *testing.T) {
	p, err := Parse("p.yaml", []byte(`apiVersion: specguard.io/v1alpha1
kind: Policy
spec:
  rules:
  - name: masks
    security:
      maskedPaths:
      - /etc/shadow
      - /proc/kcore
      - /proc/meminfo
`))
	if err != nil {
		t.Fatal(err)
	}
	got := p.WarningText()
	if len(got) != 1 || !strings.HasPrefix(got[0], "p.yaml:9: spec.rules[0].security.maskedPaths[1]: warning: /proc/kcore will not be masked") {
		t.Errorf("warnings = %q", got)
	}
	if len(p.Rules[0].Security.MaskedPaths) != 3 {
		t.Errorf("the policy's masks changed: %v", p.Rules[0].Security.MaskedPaths)
	}
}
