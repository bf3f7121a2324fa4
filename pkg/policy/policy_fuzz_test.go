package policy

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: any document either loads or is refused with a *LoadError
// that wraps ErrInvalid and names at least one problem. Never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(DefaultYAML))
	f.Add([]byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    resources: {memory: {limit: {default: 1Gi, max: 2Gi}}}\n    overrides: {allow: [resources.memory.limit]}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: t\n    env: [{name: X, value: \"{{ .Pod.Labels.x }}\"}]\n"))
	f.Add([]byte("\xff\xfe\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err == nil {
			if p == nil {
				t.Fatal("nil policy without error")
			}
			return
		}
		var le *LoadError
		if !errors.As(err, &le) || !errors.Is(err, ErrInvalid) || len(le.Problems) == 0 {
			t.Fatalf("error is not a LoadError naming a problem: %T %v", err, err)
		}
		if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}

// FuzzParseFieldValue: an untrusted override value is either refused or
// within the field's absolute range.
func FuzzParseFieldValue(f *testing.F) {
	for _, s := range []string{"512Mi", "1e3", "-1", "9223372036854775807", "1.5", "99999999999999999999Ei", "", "\x00", "0x10"} {
		f.Add(uint8(MemoryLimit), s)
	}
	f.Fuzz(func(t *testing.T, field uint8, s string) {
		fld := Field(field % uint8(NumFields))
		v, err := ParseFieldValue(fld, s)
		if err != nil {
			if !errors.Is(err, ErrBadOverride) {
				t.Fatalf("error does not wrap ErrBadOverride: %v", err)
			}
			return
		}
		if spec := fieldSpecs[fld]; v < spec.min || v > spec.max {
			t.Fatalf("%s=%q parsed to %d outside [%d, %d]", fld, s, v, spec.min, spec.max)
		}
	})
}

// FuzzRender: templates over hostile labels render within the size bound.
func FuzzRender(f *testing.F) {
	f.Add("{{ .Pod.Labels.x }}{{ .Pod.Labels.x }}", "v")
	f.Add("{{ range $k, $v := .Pod.Annotations }}{{ $k }}{{ $v }}{{ end }}", strings.Repeat("a", 4096))
	f.Fuzz(func(t *testing.T, text, label string) {
		tm, err := compileTemplate("X", text)
		if err != nil {
			return
		}
		d := &TemplateData{Pod: PodData{Labels: map[string]string{"x": label}, Annotations: map[string]string{"a": label, "b": label}}}
		out, err := tm.Render(d)
		if err == nil && len(out) > MaxRenderedSize {
			t.Fatalf("rendered %d bytes, bound %d", len(out), MaxRenderedSize)
		}
	})
}
