package engine

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/proto"
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
		if el := time.Since(start); el > 5*time.Second { // a hang guard: it takes microseconds
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

// Pod input rendered or quoted into what goes back over NRI (env values,
// annotations, the violations annotation, the refusal): a long
// multi-byte annotation cut to length, a template that slices a character
// in two, a NUL, a value past the render bound. Each is a clear refusal or
// a valid reply: before, a cut character made the reply unmarshallable
// and the runtime failed the creation with "string field contains invalid
// UTF-8" whatever the mode.
func TestHostileTemplateInputs(t *testing.T) {
	multibyte := "a" + strings.Repeat("é", 150)
	for name, c := range map[string]struct {
		rules, annotation, mount string
		refusal                  string // "" means allowed
	}{
		"audit quotes a cut multi-byte value": {rules: `  - name: watch
    mode: audit
    env: [{name: X, value: "{{ .Pod.Annotations.x }}"}]
    annotations: {add: {example.com/x: "{{ .Pod.Annotations.x }}"}}
`, annotation: multibyte},
		"audit quotes a cut multi-byte path": {rules: `  - name: watch
    mode: audit
    security: {hostPaths: {allow: ["/data/**"]}}
`, mount: "/etc/b" + multibyte},
		"enforce refuses with a cut multi-byte path": {rules: `  - name: guard
    security: {hostPaths: {allow: ["/data/**"]}}
`, mount: "/etc/b" + multibyte, refusal: "guard"},
		"template slices a character": {rules: `  - name: short
    env: [{name: X, value: "{{ if .Pod.Annotations.x }}{{ slice .Pod.Annotations.x 0 2 }}{{ end }}"}]
`, annotation: multibyte, refusal: "not valid UTF-8"},
		"NUL into env": {rules: `  - name: copy
    env: [{name: X, value: "{{ .Pod.Annotations.x }}"}]
`, annotation: "a\x00b", refusal: "NUL byte"},
		"NUL into an annotation is fine": {rules: `  - name: copy
    annotations: {add: {example.com/x: "{{ .Pod.Annotations.x }}"}}
`, annotation: "a\x00b"},
		"past the render bound": {rules: `  - name: copy
    env: [{name: X, value: "{{ .Pod.Annotations.x }}"}]
`, annotation: strings.Repeat("x", 1<<20), refusal: "exceeds 16384 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			p := mustPolicy(t, "  rules:\n"+c.rules)
			pod := testPod()
			pod.Annotations["x"] = c.annotation
			ctr := testContainer()
			if c.mount != "" {
				ctr.Mounts = []*api.Mount{{Source: c.mount, Destination: "/m", Type: "bind", Options: []string{"rbind"}}}
			}
			d := Decide(p, &Request{Pod: pod, Container: ctr})
			if !utf8.ValidString(d.Reason) {
				t.Errorf("the refusal is not valid UTF-8: %q", d.Reason)
			}
			if _, err := proto.Marshal(d.Adjustment); err != nil {
				t.Errorf("the reply cannot be marshalled: %v", err)
			}
			switch {
			case c.refusal == "" && !d.Allowed:
				t.Errorf("refused: %s", d.Reason)
			case c.refusal != "" && (d.Allowed || !strings.Contains(d.Reason, c.refusal)):
				t.Errorf("allowed=%v, reason %q does not say %q", d.Allowed, clip(d.Reason), c.refusal)
			}
		})
	}
}

// memory.swap is memory plus swap, and runc refuses a spec whose swap is
// below its memory limit ("memory+swap limit should be greater than memory
// limit"). A swap max with no limit bounds in the same rule, a limit from
// one rule and a swap max from another, or a swap override below the
// limit used to produce such a spec, and the container failed with runc's
// message (or, when swap followed the limit up, left the other rule's swap
// max). Now swap is raised to the limit where the rules allow it and the
// container is refused with the reason where they do not.
func TestSwapNeverBelowTheLimit(t *testing.T) {
	for name, tc := range map[string]struct {
		rules    string
		ann      map[string]string
		lim, swp int64  // the container's, 0: unset
		wantSwap int64  // 0: swap not in the adjustment
		wantErr  string // a refusal
	}{
		"swap max alone, container limit above it": {
			rules: "  - name: r\n    resources: {memory: {swap: {max: 512Mi}}}\n", lim: 1 << 30, swp: 1 << 30,
			wantErr: `rule "r": resources.memory.swap: the memory limit 1Gi is above max 512Mi`},
		"swap max alone, container limit below it": {
			rules: "  - name: r\n    resources: {memory: {swap: {max: 512Mi}}}\n", lim: 256 << 20, swp: 1 << 30,
			wantSwap: 512 << 20},
		"limit from one rule, swap max from another": {
			rules: "  - name: a\n    resources: {memory: {limit: {set: 1Gi}}}\n  - name: b\n    resources: {memory: {swap: {max: 512Mi}}}\n",
			lim:   256 << 20, swp: 256 << 20,
			wantErr: `rule "b": resources.memory.swap: the memory limit 1Gi is above max 512Mi`},
		"limit from one rule, swap max from another, no swap": {
			rules: "  - name: a\n    resources: {memory: {limit: {set: 1Gi}}}\n  - name: b\n    resources: {memory: {swap: {max: 512Mi}}}\n"},
		"swap override below the limit is raised to it": {
			rules: "  - name: r\n    resources: {memory: {limit: {default: 256Mi}, swap: {max: 4Gi}}}\n    overrides: {allow: [resources.memory.swap]}\n",
			ann:   map[string]string{"memory.swap.specguard.io/pod": "1Mi"}, wantSwap: 256 << 20},
		// runc's cgroup v2 conversion leaves a memory.swap of 0 unset,
		// which is unlimited swap: like a memory limit of 0, it is lifted
		// to the max, not passed through as "0".
		"swap override of 0 is unlimited: clamped to the max": {
			rules: "  - name: r\n    resources: {memory: {limit: {default: 256Mi}, swap: {max: 4Gi}}}\n    overrides: {allow: [resources.memory.swap]}\n",
			ann:   map[string]string{"memory.swap.specguard.io/container.app": "0"}, wantSwap: 4 << 30},
		"swap override of 0 is refused under onViolation: reject": {
			rules:   "  - name: r\n    resources: {memory: {limit: {default: 256Mi}, swap: {max: 4Gi}}, onViolation: reject}\n    overrides: {allow: [resources.memory.swap]}\n",
			ann:     map[string]string{"memory.swap.specguard.io/container.app": "0"},
			wantErr: `rule "r": resources.memory.swap: override annotation memory.swap.specguard.io/container.app=0 is outside the rule's bounds`},
		"swap max in audit mode changes and refuses nothing": {
			rules: "  - name: r\n    mode: audit\n    resources: {memory: {swap: {max: 512Mi}}}\n", lim: 1 << 30, swp: 1 << 30},
	} {
		t.Run(name, func(t *testing.T) {
			p := mustPolicy(t, "  rules:\n"+tc.rules)
			pod, c := testPod(), testContainer()
			for k, v := range tc.ann {
				pod.Annotations[k] = v
			}
			if tc.lim != 0 {
				c.Linux.Resources.Memory.Limit = api.Int64(tc.lim)
			}
			if tc.swp != 0 {
				c.Linux.Resources.Memory.Swap = api.Int64(tc.swp)
			}
			d := Decide(p, &Request{Pod: pod, Container: c})
			if tc.wantErr != "" {
				if d.Allowed || !strings.Contains(d.Reason, tc.wantErr) {
					t.Fatalf("allowed %v, reason %q; want a refusal with %q", d.Allowed, d.Reason, tc.wantErr)
				}
				return
			}
			if !d.Allowed {
				t.Fatalf("refused: %s", d.Reason)
			}
			m := d.Adjustment.GetLinux().GetResources().GetMemory()
			if got := m.GetSwap().GetValue(); got != tc.wantSwap {
				t.Errorf("swap = %d, want %d", got, tc.wantSwap)
			}
			lim := tc.lim
			if m.GetLimit() != nil {
				lim = m.GetLimit().GetValue()
			}
			if sw := m.GetSwap().GetValue(); sw > 0 && sw < lim {
				t.Errorf("swap %d below the limit %d", sw, lim)
			}
		})
	}
}
