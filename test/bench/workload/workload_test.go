package workload

import (
	"testing"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/facts"
)

// The benchmarks compare policy sizes: the request must meet the same
// matched rules, and be admitted, at every size.
func TestPolicyMatchesTheSameRulesAtEverySize(t *testing.T) {
	for _, n := range []int{10, 100, 1000} {
		p := MustPolicy(n)
		if len(p.Rules) != n {
			t.Fatalf("Policy(%d) has %d rules", n, len(p.Rules))
		}
		pod, c := Request(0)
		d := engine.Decide(p, &engine.Request{Pod: pod, Container: c, Facts: engine.Facts{Node: facts.NewNode("node-1")}})
		if !d.Allowed {
			t.Fatalf("Policy(%d) refuses the request: %s", n, d.Reason)
		}
		matched := 0
		for _, e := range d.Trace {
			if e.Action == "match" {
				matched++
			}
		}
		if matched != MatchedRules {
			t.Errorf("Policy(%d): %d rules matched, want %d: %+v", n, matched, MatchedRules, d.Trace)
		}
		if n == 100 {
			t.Logf("rules changed: %v", d.Rules)
			t.Logf("adjustment: %v", d.Adjustment)
			t.Logf("violations: %v", d.Violations)
		}
	}
}

func TestFleet(t *testing.T) {
	pods, ctrs := Fleet(10, 4)
	if len(pods) != 3 || len(ctrs) != 10 {
		t.Fatalf("Fleet(10, 4) = %d pods, %d containers", len(pods), len(ctrs))
	}
}
