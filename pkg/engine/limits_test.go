package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/policy"
)

// The pod of issue 17 (1,500 binds of denied host paths) was refused with
// a 444 KB message: the refusal now quotes the first findings, says how
// many more there are, and stays within MaxFindingsText.
func TestRefusalTextIsBounded(t *testing.T) {
	pol := worstPolicyParsed(t)
	pod, c := worstRequest(5000, 1500, 0, 0, 0)
	d := engine.Decide(pol, &engine.Request{Pod: pod, Container: c})
	if d.Allowed {
		t.Fatal("a container binding /etc 1,500 times was allowed")
	}
	if len(d.Refusals) != engine.MaxFindings || d.RefusalsOmitted != 1500-engine.MaxFindings {
		t.Errorf("refusals kept %d, omitted %d; want %d and %d", len(d.Refusals), d.RefusalsOmitted, engine.MaxFindings, 1500-engine.MaxFindings)
	}
	header := "specguard refused container app of pod team-a/big: "
	if !strings.HasPrefix(d.Reason, header) {
		t.Fatalf("reason %.200q does not start with %q", d.Reason, header)
	}
	if !strings.Contains(d.Reason, `rule "safety-net": hostPaths: mount /m/0: host path /etc/x0 is denied by "/etc/**"`) {
		t.Errorf("reason does not quote the first finding: %.300q", d.Reason)
	}
	shown := strings.Count(d.Reason, `rule "safety-net": `)
	if want := fmt.Sprintf("; and %d more", 1500-shown); !strings.HasSuffix(d.Reason, want) {
		t.Errorf("reason ends %q, want %q", d.Reason[max(0, len(d.Reason)-40):], want)
	}
	if n := len(d.Reason) - len(header); n > engine.MaxFindingsText+len("; and 1500 more") {
		t.Errorf("findings text is %d bytes, more than %d", n, engine.MaxFindingsText)
	}
	refused := 0
	for _, tr := range d.Trace {
		if tr.Action == "refuse" {
			refused++
		}
	}
	if refused != engine.MaxFindings {
		t.Errorf("trace has %d refusals, want the %d kept", refused, engine.MaxFindings)
	}
}

func TestFindingsText(t *testing.T) {
	f := func(v engine.Finding) string { return v.Rule + ": " + v.Message }
	long := strings.Repeat("é", engine.MaxFindingsText) // 2 bytes a rune
	for name, tc := range map[string]struct {
		vs      []engine.Finding
		omitted int
		want    string // prefix; suffix after "|"
	}{
		"one":            {[]engine.Finding{{Rule: "a", Message: "x"}}, 0, "a: x|a: x"},
		"omitted":        {[]engine.Finding{{Rule: "a", Message: "x"}, {Rule: "b", Message: "y"}}, 3, "a: x; b: y|; and 3 more"},
		"first too long": {[]engine.Finding{{Rule: "a", Message: long}, {Rule: "b", Message: "y"}}, 0, "a: éé|...; and 1 more"},
		"second does not fit": {[]engine.Finding{{Rule: "a", Message: strings.Repeat("x", engine.MaxFindingsText-10)}, {Rule: "b", Message: strings.Repeat("y", 20)}}, 0,
			"a: xx|x; and 1 more"},
	} {
		t.Run(name, func(t *testing.T) {
			got := engine.FindingsText(tc.vs, tc.omitted, f)
			pre, suf, _ := strings.Cut(tc.want, "|")
			if !strings.HasPrefix(got, pre) || !strings.HasSuffix(got, suf) {
				t.Errorf("got %.80q...%q, want prefix %q and suffix %q", got, got[max(0, len(got)-20):], pre, suf)
			}
			if len(got) > engine.MaxFindingsText+len("; and 100 more") {
				t.Errorf("%d bytes, more than %d", len(got), engine.MaxFindingsText)
			}
			if !utf8.ValidString(got) {
				t.Error("not valid UTF-8")
			}
		})
	}
}

// A container past the limits is refused before any rule looks at it
// when a rule enforces (never admitted unchecked), and reported when
// every rule audits; one at the limits is checked as usual.
func TestOversizedRequestIsRefused(t *testing.T) {
	l := engine.DefaultLimits
	audit := strings.Replace(worstPolicy, "mode: enforce", "mode: audit", 1)
	for name, tc := range map[string]struct {
		policy                                   string
		env, binds, devices, deviceRules, sysctl int
		refused, audited                         string
	}{
		"env":          {worstPolicy, l.Env + 1, 0, 0, 0, 0, fmt.Sprintf("%d environment variables, more than the %d", l.Env+1, l.Env), ""},
		"mounts":       {worstPolicy, 0, l.Mounts + 1, 0, 0, 0, fmt.Sprintf("%d mounts, more than the %d", l.Mounts+1, l.Mounts), ""},
		"devices":      {worstPolicy, 0, 0, l.Devices + 1, 0, 0, "device nodes, more than", ""},
		"device rules": {worstPolicy, 0, 0, 0, l.DeviceRules + 1, 0, "device cgroup rules, more than", ""},
		"sysctls":      {worstPolicy, 0, 0, 0, 0, l.Sysctls + 1, "sysctls, more than", ""},
		"audit":        {audit, l.Env + 1, 0, 0, 0, 0, "", "limits: request too large to check"},
		"at the limit": {worstPolicy, l.Env, 1, 0, 0, 0, `hostPaths: mount /m/0: host path /etc/x0 is denied`, ""},
	} {
		t.Run(name, func(t *testing.T) {
			pol, err := policy.Parse(name, []byte(tc.policy))
			if err != nil {
				t.Fatal(err)
			}
			pod, c := worstRequest(tc.env, tc.binds, tc.devices, tc.deviceRules, tc.sysctl)
			d := engine.Decide(pol, &engine.Request{Pod: pod, Container: c})
			if tc.refused != "" {
				if d.Allowed || !strings.Contains(d.Reason, tc.refused) {
					t.Fatalf("allowed=%v reason=%q, want a refusal with %q", d.Allowed, d.Reason, tc.refused)
				}
				return
			}
			if !d.Allowed {
				t.Fatalf("refused: %s", d.Reason)
			}
			if got := d.Adjustment.GetAnnotations()["specguard.io/violations"]; !strings.Contains(got, tc.audited) {
				t.Errorf("violations %q, want %q", got, tc.audited)
			}
		})
	}
}
