package engine

import (
	"fmt"
	"strconv"
	"strings"
)

// Finding is what a rule or a validation setting found, in both of the
// engine's verdicts: at CreateContainer (Decision: a refusal in enforce
// mode, an audit finding or addition in audit mode) and on the merged
// adjustment (ValidateAdjustment: a change another plugin made that the
// policy forbids).
type Finding struct {
	Rule    string `json:"rule"` // the rule; "" for a validation setting's
	Message string `json:"message"`
	// Field is the container field it is about, in the terms of NRI's
	// adjustment (mounts[/x], linux.sysctl[k], resources.memory.limit,
	// ...), where one field is to blame: the validator asks NRI which
	// plugin set it.
	Field string `json:"field,omitempty"`
	// The validator's: the plugin NRI says made the change ("<index>-<name>"),
	// the validation setting it breaks (denyHooks, denyHostMounts, ...), and
	// Audit for a rule in audit mode (reported, never refusing).
	Plugin string `json:"plugin,omitempty"`
	Check  string `json:"check,omitempty"`
	Audit  bool   `json:"audit,omitempty"`
}

// String is the finding as a refusal quotes it.
func (f Finding) String() string {
	if f.Plugin == "" && f.Check == "" {
		return f.ruleText()
	}
	return f.pluginText()
}

// ruleText is a decision's finding as its refusal quotes it.
func (f Finding) ruleText() string {
	return "rule " + strconv.Quote(f.Rule) + ": " + f.Message
}

// pluginText is a validator's finding as its refusal quotes it.
func (f Finding) pluginText() string {
	if f.Rule != "" {
		return fmt.Sprintf("plugin %q %s (%s, rule %q)", f.Plugin, f.Message, f.Field, f.Rule)
	}
	return fmt.Sprintf("plugin %q %s (%s, validation.%s)", f.Plugin, f.Message, f.Field, f.Check)
}

// Refusal is the error a refused container is answered with, at
// CreateContainer (Decision.Err) and by the validator (ValidateAdjustment).
// Its text is what the runtime's clients show (crictl, the kubelet's
// events), so it never changes with the findings' form.
type Refusal struct {
	// Findings are what refuses the container; a validator's refusal also
	// carries its audit-mode findings (Audit set).
	Findings []Finding
	reason   string
}

func (r *Refusal) Error() string { return r.reason }

// Err is the decision's refusal, nil when the container is allowed.
func (d *Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return &Refusal{Findings: d.Refusals, reason: d.Reason}
}

// adjustmentsRefused is the validator's refusal of the merged adjustment.
func adjustmentsRefused(pod, container string, findings []Finding) *Refusal {
	parts := make([]string, len(findings))
	for i, f := range findings {
		parts[i] = f.pluginText()
	}
	return &Refusal{Findings: findings, reason: "specguard refused the NRI adjustments to container " + container + " of pod " + pod + ": " +
		strings.Join(parts, "; ")}
}
