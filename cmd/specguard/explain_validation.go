package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/policy"
)

// validationExplanation is `explain --validation-request -o json`: the
// validator's verdict on the merged adjustment and each finding with its
// plugin and field.
type validationExplanation struct {
	Allowed  bool                `json:"allowed"`
	Reason   string              `json:"reason"`
	Findings []validationFinding `json:"findings"`
}

// validationFinding is an engine.Finding of the validator as explain
// writes it: the plugin first, its change as "detail".
type validationFinding struct {
	Plugin string `json:"plugin"`
	Field  string `json:"field"`
	Detail string `json:"detail"`
	Check  string `json:"check,omitempty"`
	Rule   string `json:"rule,omitempty"`
	Audit  bool   `json:"audit,omitempty"`
}

// readValidationRequest reads NRI's ValidateContainerAdjustmentRequest in
// its protobuf JSON form: pod, container, adjust, owners, plugins.
func readValidationRequest(path string) (*api.ValidateContainerAdjustmentRequest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	req := &api.ValidateContainerAdjustmentRequest{}
	if err := protojson.Unmarshal(data, req); err != nil {
		return nil, fmt.Errorf("%s: want an NRI ValidateContainerAdjustmentRequest in protobuf JSON (pod, container, adjust, owners, plugins): %v", path, err)
	}
	if req.GetContainer().GetId() == "" {
		return nil, fmt.Errorf("%s: container.id is required: NRI's owners are recorded per container id", path)
	}
	return req, nil
}

// explainValidation runs the validator on a recorded request, as specguard
// registered as self.
func explainValidation(p *policy.Policy, req *api.ValidateContainerAdjustmentRequest, self string, node *engine.Node, output string, stdout io.Writer) error {
	out := validationExplanation{Allowed: true, Findings: []validationFinding{}}
	if p.Validation == nil || p.Validation.Mode == policy.ModeOff {
		out.Reason = "the policy has no validation section in force: specguard does not validate other plugins"
	} else {
		findings, err := engine.ValidateAdjustmentAs(p, req, engine.Validator{Self: self, Node: node})
		var refused *engine.Refusal
		switch {
		case errors.As(err, &refused):
			out.Allowed, out.Reason = false, err.Error()
		case err != nil:
			return err
		}
		for _, f := range findings {
			out.Findings = append(out.Findings, validationFinding{Plugin: f.Plugin, Field: f.Field, Detail: f.Message,
				Check: f.Check, Rule: f.Rule, Audit: f.Audit})
		}
	}
	if output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	pod, c := req.GetPod(), req.GetContainer()
	fmt.Fprintf(stdout, "validation of container %s of pod %s/%s, as %s\n", c.GetName(), pod.GetNamespace(), pod.GetName(), self)
	switch {
	case !out.Allowed:
		fmt.Fprintf(stdout, "verdict: REFUSED\nreason:  %s\n", out.Reason)
	case len(out.Findings) > 0:
		fmt.Fprintln(stdout, "verdict: allowed (the findings are reported only: audit mode)")
	default:
		fmt.Fprintln(stdout, "verdict: allowed")
		if out.Reason != "" {
			fmt.Fprintf(stdout, "note:    %s\n", out.Reason)
		}
	}
	if len(out.Findings) == 0 {
		return nil
	}
	fmt.Fprintln(stdout, "\nplugin by plugin:")
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PLUGIN\tFIELD\tBY\tFINDING")
	for _, f := range out.Findings {
		by := "validation." + f.Check
		if f.Rule != "" {
			by = "rule " + f.Rule
		}
		if f.Audit {
			by += " (audit)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", f.Plugin, dash(f.Field), by, f.Detail)
	}
	return tw.Flush()
}
