package policy

import (
	"errors"
	"strings"
	"testing"
)

// TestIdentityCheck: spec.metadata.identityCheck resolves to a mode; unset,
// it keeps what policies written before it did (the check in spec.mode
// while identity is on, nothing while it is off).
func TestIdentityCheck(t *testing.T) {
	cases := map[string]struct {
		spec     string
		identity bool
		check    Mode
	}{
		"unset under enforce":         {"  mode: enforce\n", true, ModeEnforce},
		"unset under audit":           {"  mode: audit\n", true, ModeAudit},
		"unset under off":             {"  mode: off\n", true, ModeOff},
		"unset, no mode":              {"  failurePolicy: ignore\n", true, ModeEnforce},
		"unset, identity off":         {"  metadata: {identity: false}\n", false, ModeOff},
		"audit under enforce":         {"  mode: enforce\n  metadata: {identity: true, identityCheck: audit}\n", true, ModeAudit},
		"off under enforce":           {"  metadata: {identityCheck: off}\n", true, ModeOff},
		"enforce under audit":         {"  mode: audit\n  metadata: {identityCheck: enforce}\n", true, ModeEnforce},
		"enforce without annotations": {"  metadata: {identity: false, identityCheck: enforce}\n", false, ModeEnforce},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := Parse("p.yaml", []byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n"+c.spec))
			if err != nil {
				t.Fatal(err)
			}
			if p.Metadata.Identity != c.identity || p.Metadata.IdentityCheck != c.check {
				t.Fatalf("identity %v, identityCheck %q; want %v, %q", p.Metadata.Identity, p.Metadata.IdentityCheck, c.identity, c.check)
			}
		})
	}
}

// The built-in default refuses nothing the CRI allows: it reports
// contradicting identity labels instead of refusing them.
func TestDefaultPolicyAuditsIdentity(t *testing.T) {
	if m := Default().Metadata; !m.Identity || m.IdentityCheck != ModeAudit {
		t.Fatalf("default metadata %+v, want identity on and identityCheck audit", m)
	}
}

func TestIdentityCheckRefusedWithLine(t *testing.T) {
	cases := map[string]struct{ doc, want string }{
		"unknown mode": {"  metadata:\n    identity: true\n    identityCheck: refuse\n",
			`p.yaml:6: spec.metadata.identityCheck: must be enforce, audit or off, got "refuse"`},
		"a bool": {"  metadata:\n    identityCheck: true\n",
			`p.yaml:5: spec.metadata.identityCheck: want a string (quote it), got "true"`},
		"misspelt": {"  metadata:\n    identitycheck: audit\n",
			`p.yaml:5: spec.metadata.identitycheck: unknown field (did you mean "identityCheck"?)`},
		"identity as a mode": {"  metadata:\n    identity: audit\n",
			`p.yaml:5: spec.metadata.identity: want true or false, got "audit"`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n"+c.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, c.want)
			}
		})
	}
}
