package engine

import (
	"errors"
	"testing"
)

// A refused decision's Err is a *Refusal with the refusal's findings, whose
// text is the decision's Reason word for word (what crictl and the
// kubelet's events show); an allowed one has none.
func TestDecisionErr(t *testing.T) {
	p := mustPolicy(t, securityRule("      seccomp: {unconfined: reject}\n"))
	if err := Decide(p, &Request{Pod: secPod(), Container: secContainer()}).Err(); err != nil {
		t.Fatalf("allowed decision: Err = %v, want nil", err)
	}
	d := Decide(p, &Request{Pod: secPod(), Container: unconfinedContainer()})
	var r *Refusal
	if !errors.As(d.Err(), &r) {
		t.Fatalf("refused decision: Err = %#v, want a *Refusal", d.Err())
	}
	want := `specguard refused container app of pod team-a/web-0: rule "sec": seccomp: container runs without a seccomp profile (Unconfined); the rule requires RuntimeDefault or Localhost`
	if r.Error() != want || d.Reason != want {
		t.Errorf("refusal text:\n%s\nreason:\n%s\nwant:\n%s", r.Error(), d.Reason, want)
	}
	if len(r.Findings) != 1 || r.Findings[0] != (Finding{Rule: "sec", Field: "linux.seccompPolicy",
		Message: "seccomp: container runs without a seccomp profile (Unconfined); the rule requires RuntimeDefault or Localhost"}) {
		t.Errorf("findings = %+v", r.Findings)
	}
}

// A finding reads as the refusal that quotes it: a decision's by its rule,
// the validator's by plugin, field and the rule or setting it breaks.
func TestFindingString(t *testing.T) {
	for want, f := range map[string]Finding{
		`rule "cap": memory 3Gi exceeds max 2Gi`: {Rule: "cap", Message: "memory 3Gi exceeds max 2Gi", Field: "resources.memory.limit"},
		`plugin "95-late" adds OCI hooks (prestart /x) (hooks, validation.denyHooks)`: {Plugin: "95-late", Field: "hooks",
			Message: "adds OCI hooks (prestart /x)", Check: "denyHooks"},
		`plugin "95-late" sets resources.pids.limit to 9 (resources.pids.limit, rule "cap")`: {Plugin: "95-late",
			Field: "resources.pids.limit", Message: "sets resources.pids.limit to 9", Rule: "cap"},
	} {
		if got := f.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}
