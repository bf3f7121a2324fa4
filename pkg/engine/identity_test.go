package engine

import (
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
)

// TestIdentityModes: a container whose kubelet labels name another pod is
// refused, reported or admitted as spec.metadata.identityCheck says; in
// every mode the rules that apply and the annotations specguard writes
// come from the sandbox, never from the labels.
func TestIdentityModes(t *testing.T) {
	// Rules keyed to the sandbox's namespace and to the one the labels claim.
	const rules = `  rules:
  - name: sandbox-ns
    mode: enforce
    match: {namespaces: [team-a]}
    env: [{name: WHO, value: "{{ .Pod.Namespace }}/{{ .Pod.Name }}/{{ .Pod.UID }}"}]
  - name: claimed-ns
    mode: enforce
    match: {namespaces: [kube-system]}
    env: [{name: CLAIMED, value: "1"}]
`
	spoof := func(c *api.Container) {
		c.Labels["io.kubernetes.pod.name"] = "etcd-0"
		c.Labels["io.kubernetes.pod.namespace"] = "kube-system"
		c.Labels["io.kubernetes.pod.uid"] = "uid-other"
	}
	cases := map[string]struct {
		metadata string
		mode     string
		spoofed  bool
		refused  bool
		reported bool
		mirrored bool // io.kubernetes.* annotations written
	}{
		"enforce refuses":              {"identityCheck: enforce", "enforce", true, true, false, true},
		"audit reports":                {"identityCheck: audit", "enforce", true, false, true, true},
		"off admits silently":          {"identityCheck: off", "enforce", true, false, false, true},
		"unset follows enforce":        {"identity: true", "enforce", true, true, false, true},
		"unset follows audit":          {"identity: true", "audit", true, false, true, true},
		"identity off, unset":          {"identity: false", "enforce", true, false, false, false},
		"identity off, check enforced": {"{identity: false, identityCheck: enforce}", "enforce", true, true, false, false},
		"honest labels, enforce":       {"identityCheck: enforce", "enforce", false, false, false, true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			md := "  metadata: {" + c.metadata + "}\n"
			if strings.HasPrefix(c.metadata, "{") {
				md = "  metadata: " + c.metadata + "\n"
			}
			p := mustPolicy(t, "  mode: "+c.mode+"\n"+md+rules)
			ctr := testContainer()
			if c.spoofed {
				spoof(ctr)
			}
			d := Decide(p, &Request{Pod: testPod(), Container: ctr})
			if d.Allowed == c.refused {
				t.Fatalf("allowed = %v (reason %q), want refused = %v", d.Allowed, d.Reason, c.refused)
			}
			if c.refused {
				for _, w := range []string{`rule "identity": container label io.kubernetes.pod.name="etcd-0" contradicts its sandbox ("web-0")`,
					`io.kubernetes.pod.namespace="kube-system" contradicts its sandbox ("team-a")`, `io.kubernetes.pod.uid="uid-other"`} {
					if !strings.Contains(d.Reason, w) {
						t.Errorf("reason %q lacks %q", d.Reason, w)
					}
				}
				return
			}
			v, _ := annotation(d, "specguard.io/violations")
			if got := strings.Contains(v, `identity: container label io.kubernetes.pod.namespace="kube-system" contradicts its sandbox`); got != c.reported {
				t.Errorf("violations %q: reported = %v, want %v", v, got, c.reported)
			}
			if c.reported && len(d.Violations) != 3 {
				t.Errorf("violations = %v, want one per contradicting label (3)", d.Violations)
			}
			// Rules match on the sandbox; templates render the sandbox.
			if got, _ := envOfAdj(d, "WHO"); got != "team-a/web-0/uid-1" {
				t.Errorf("WHO = %q, want the sandbox's team-a/web-0/uid-1", got)
			}
			if _, ok := envOfAdj(d, "CLAIMED"); ok {
				t.Error("a rule for the namespace the labels claim applied")
			}
			want := map[string]string{"io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "team-a",
				"io.kubernetes.pod.uid": "uid-1", "io.kubernetes.container.name": "app"}
			for k, w := range want {
				got, ok := annotation(d, k)
				switch {
				case c.mirrored && got != w:
					t.Errorf("annotation %s = %q, want the sandbox's %q", k, got, w)
				case !c.mirrored && ok:
					t.Errorf("annotation %s = %q written with identity: false", k, got)
				}
			}
		})
	}
}
