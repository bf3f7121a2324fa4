package engine

import (
	"strings"
	"testing"
	"time"
)

// Hostile override annotations (docs/reliability.md): each is ignored with
// a reason in the trace, and the rule's default stays in force.
func TestHostileOverridesAreIgnored(t *testing.T) {
	p := mustPolicy(t, `  rules:
  - name: mem
    resources: {memory: {limit: {default: 256Mi, max: 1Gi}}}
    overrides: {allow: [resources.memory.limit]}
`)
	for name, v := range map[string]string{
		"enormous":      strings.Repeat("9", 1<<20),
		"NUL":           "512Mi\x00",
		"invalid utf-8": "\xff\xfe512Mi",
		"overflow":      "99999999999999999999999",
		"exponent":      "1e400",
		"neg exponent":  "9e-999999999", // found by FuzzDecide: hung resource.ParseQuantity
		"exp overflow":  "1e99999999999999999999",
		"negative":      "-1Gi",
		"fraction":      "0.5",
		"nested":        "{{ .Pod.Name }}",
		"empty":         "",
	} {
		pod := testPod()
		pod.Annotations["memory.limit.specguard.io/container.app"] = v
		start := time.Now()
		d := Decide(p, &Request{Pod: pod, Container: testContainer()})
		if el := time.Since(start); el > time.Second {
			t.Errorf("%s: decided in %v", name, el)
		}
		if !d.Allowed {
			t.Errorf("%s: refused: %s", name, d.Reason)
			continue
		}
		if got := d.Adjustment.GetLinux().GetResources().GetMemory().GetLimit().GetValue(); got != 256<<20 {
			t.Errorf("%s: limit = %d, want the default", name, got)
		}
		ignored := false
		for _, tr := range d.Trace {
			if tr.Action == "override-ignored" {
				ignored = true
				if len(tr.Value) > 300 {
					t.Errorf("%s: the trace repeats the hostile value (%d bytes)", name, len(tr.Value))
				}
			}
		}
		if !ignored {
			t.Errorf("%s: no override-ignored trace", name)
		}
	}
}
