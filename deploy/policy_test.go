package deploy_test

import (
	"testing"

	"github.com/specguard/specguard/pkg/policy"
)

// The sample policy enforces what it says: it refuses containers whose
// identity labels contradict their sandbox, and says so in the file
// rather than through the default.
func TestSamplePolicyEnforcesIdentity(t *testing.T) {
	p, err := policy.Load("policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Document.Spec.Metadata.IdentityCheck != policy.ModeEnforce || p.Metadata.IdentityCheck != policy.ModeEnforce {
		t.Fatalf("deploy/policy.yaml: spec.metadata.identityCheck %q (resolved %q), want enforce written out",
			p.Document.Spec.Metadata.IdentityCheck, p.Metadata.IdentityCheck)
	}
}
