package policy

import (
	"strings"
	"testing"
)

// The fast path must render exactly what text/template renders.
func TestTemplateFastPathMatchesTextTemplate(t *testing.T) {
	data := map[string]*TemplateData{
		"empty": {},
		"full": {Pod: PodData{Name: "web-1", Namespace: "shop", UID: "u-1",
			Labels: map[string]string{"team": "blue", "a.b/c": "x"}, Annotations: map[string]string{"k": "v"}},
			Container: ContainerData{Name: "web", Image: "reg/web:1"}, RestartCount: 12, LogPath: "/l/0.log",
			QOSClass: "Burstable", Node: NodeData{Name: "node-1"}},
	}
	for name, tc := range map[string]struct {
		text string
		fast bool
	}{
		"restart count": {"{{ .RestartCount }}", true},
		"mixed":         {"{{.Pod.Namespace}}/{{ .Pod.Name }}-{{.Container.Name}}:{{.RestartCount}}", true},
		"label":         {"team={{ .Pod.Labels.team }}", true},
		"missing label": {"{{ .Pod.Labels.nope }}", true},
		"annotation":    {"{{ .Pod.Annotations.k }}", true},
		"every field":   {"{{.Pod.UID}}{{.Container.Image}}{{.LogPath}}{{.QOSClass}}{{.Node.Name}}", true},
		"index":         {`{{ index .Pod.Labels "a.b/c" }}`, false},
		"pipeline":      {"{{ .Pod.Name | printf \"%q\" }}", false},
		"conditional":   {"{{ if .Pod.Name }}x{{ end }}", false},
		"whole map":     {"{{ .Pod.Labels }}", false},
		"whole struct":  {"{{ .Pod }}", false},
		"trim markers":  {"a {{- .Pod.Name -}} b", true},
		"comment":       {"{{/* c */}}{{ .Pod.Name }}", true},
	} {
		t.Run(name, func(t *testing.T) {
			tm, err := compileTemplate("v", tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if got := tm.parts != nil; got != tc.fast {
				t.Fatalf("fast path = %v, want %v", got, tc.fast)
			}
			slow := tm
			slow.parts = nil
			for dn, d := range data {
				want, err1 := slow.Render(d)
				got, err2 := tm.Render(d)
				if got != want || (err1 == nil) != (err2 == nil) {
					t.Errorf("%s: fast %q (%v), text/template %q (%v)", dn, got, err2, want, err1)
				}
			}
		})
	}
}

func TestTemplateFastPathBoundsOutput(t *testing.T) {
	tm, err := compileTemplate("v", "{{.Pod.Labels.a}}{{.Pod.Labels.a}}")
	if err != nil || tm.parts == nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", MaxRenderedSize/2+1)
	if _, err := tm.Render(&TemplateData{Pod: PodData{Labels: map[string]string{"a": big}}}); err == nil {
		t.Fatal("no error for an oversized value")
	}
}
