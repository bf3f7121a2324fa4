package policy_test

import (
	"fmt"
	"testing"

	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/test/bench/workload"
)

// BenchmarkParse loads and compiles the benchmark workload's policy at 100
// and 1000 rules: what startup and every hot reload pay, off the request
// path.
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			doc := workload.Policy(n)
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := policy.Parse("workload.yaml", doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMatchRules walks the namespace index and evaluates every
// candidate's selectors for the workload's request: the part of a decision
// that grows with the rule count. It must not allocate.
func BenchmarkMatchRules(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			p := workload.MustPolicy(n)
			s := &policy.Subject{Namespace: workload.Namespace, Container: workload.ContainerName, Image: workload.Image,
				RuntimeHandler: "runc", PodLabels: map[string]string{"app": "web", "team": "blue", "pod-template-hash": "7d9f8c6b5"}}
			candidates, matched := 0, 0
			for i := range p.EachCandidate(s.Namespace) {
				candidates++
				if p.Rules[i].Matches(s) {
					matched++
				}
			}
			if matched != workload.MatchedRules {
				b.Fatalf("%d rules match, want %d", matched, workload.MatchedRules)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range p.EachCandidate(s.Namespace) {
					p.Rules[j].Matches(s)
				}
			}
			b.ReportMetric(float64(candidates), "candidates")
		})
	}
}

// BenchmarkRender renders an env template of the common shape (text and
// plain fields, rendered without text/template) and one that needs
// text/template (a function call).
func BenchmarkRender(b *testing.B) {
	p, err := policy.Parse("render.yaml", []byte(`apiVersion: specguard.io/v1alpha1
kind: Policy
spec:
  rules:
    - name: r
      env:
        - {name: PLAIN, value: "{{ .Pod.Namespace }}/{{ .Pod.Name }} team={{ .Pod.Labels.team }} restart={{ .RestartCount }}"}
        - {name: FUNC, value: "{{ printf \"%s/%s\" .Pod.Namespace .Pod.Name }} team={{ index .Pod.Labels \"team\" }} restart={{ .RestartCount }}"}
`))
	if err != nil {
		b.Fatal(err)
	}
	data := &policy.TemplateData{Pod: policy.PodData{Name: "web-0", Namespace: "shop", UID: "u",
		Labels: map[string]string{"team": "blue"}}, RestartCount: 3}
	for i, name := range []string{"plain", "text-template"} {
		t := &p.Rules[0].Env[i]
		b.Run(name, func(b *testing.B) {
			want := "shop/web-0 team=blue restart=3"
			if got, err := t.Render(data); err != nil || got != want {
				b.Fatalf("Render = %q, %v; want %q", got, err, want)
			}
			b.ReportAllocs()
			for j := 0; j < b.N; j++ {
				t.Render(data)
			}
		})
	}
}
