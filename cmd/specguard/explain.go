package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/facts"
	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
)

// explanation is the `explain -o json` object (README), plus
// "additions": what audit-mode rules would add where the container has
// nothing (kept apart from the findings in "violations").
type explanation struct {
	Allowed    bool                `json:"allowed"`
	Reason     string              `json:"reason"`
	Adjustment json.RawMessage     `json:"adjustment"`
	Trace      []engine.TraceEntry `json:"trace"`
	Violations []engine.Finding    `json:"violations"`
	Additions  []engine.Finding    `json:"additions"`
}

func explainCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("explain", stderr)
	config := fs.String("config", "", "policy file (required)")
	podFile := fs.String("pod", "", "a Kubernetes Pod manifest (YAML or JSON)")
	container := fs.String("container", "", "the container of --pod to explain (default: the first)")
	reqFile := fs.String("request", "", `an NRI request: {"pod": <PodSandbox>, "container": <Container>} in NRI protobuf JSON`)
	valFile := fs.String("validation-request", "", "an NRI ValidateContainerAdjustmentRequest in NRI protobuf JSON: the validator's verdict per plugin and field")
	self := fs.String("as", "90-specguard", `with --validation-request: specguard's "<index>-<name>" as NRI names it`)
	restartCount := fs.Int("restart-count", -1, "restart count to assume (default: from the container's annotations, else 0)")
	nodeName := fs.String("node-name", "", "node name for templates (default: the policy's, else the hostname)")
	output := fs.String("o", "text", "output: text or json")
	if code := parseFlags(fs, args, stderr); code >= 0 {
		return code
	}
	switch {
	case *config == "":
		fmt.Fprintln(stderr, "specguard explain: --config is required")
		return exitUsage
	case count(*podFile != "", *reqFile != "", *valFile != "") != 1:
		fmt.Fprintln(stderr, "specguard explain: give exactly one of --pod, --request and --validation-request")
		return exitUsage
	case *output != "text" && *output != "json":
		fmt.Fprintf(stderr, "specguard explain: -o must be text or json, got %q\n", *output)
		return exitUsage
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "specguard explain: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	p, err := policy.Load(*config)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitInput
	}
	name := *nodeName
	if name == "" {
		name, _ = os.Hostname()
	}
	node := facts.NewNode(name)
	if *valFile != "" {
		req, err := readValidationRequest(*valFile)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitInput
		}
		if err := explainValidation(p, req, *self, node, *output, stdout); err != nil {
			fmt.Fprintf(stderr, "specguard explain: %v\n", err)
			return exitInput
		}
		return exitOK
	}
	var pod *api.PodSandbox
	var ctr *api.Container
	if *reqFile != "" {
		pod, ctr, err = readRequest(*reqFile)
	} else {
		pod, ctr, err = requestFromPod(*podFile, *container, *restartCount, p.Node.PodLogsDir)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitInput
	}
	rc := *restartCount
	if rc < 0 {
		rc, _ = restarts.CountFromAnnotations(ctr.GetAnnotations())
	}
	g := facts.Gatherer{Node: node, Counter: facts.Given(rc)}
	d := engine.Decide(p, &engine.Request{Pod: pod, Container: ctr, Facts: g.Gather(p, pod, ctr)})
	if *output == "json" {
		if err := writeExplanationJSON(stdout, d); err != nil {
			fmt.Fprintf(stderr, "specguard explain: %v\n", err)
			return exitInput
		}
		return exitOK
	}
	writeExplanationText(stdout, pod, ctr, d)
	return exitOK
}

func count(conds ...bool) int {
	n := 0
	for _, c := range conds {
		if c {
			n++
		}
	}
	return n
}

func readRequest(path string) (*api.PodSandbox, *api.Container, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var raw struct {
		Pod       json.RawMessage `json:"pod"`
		Container json.RawMessage `json:"container"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, nil, fmt.Errorf("%s: want {\"pod\": ..., \"container\": ...}: %v", path, err)
	}
	if raw.Pod == nil || raw.Container == nil {
		return nil, nil, fmt.Errorf("%s: both \"pod\" and \"container\" are required", path)
	}
	pod, ctr := &api.PodSandbox{}, &api.Container{}
	if err := protojson.Unmarshal(raw.Pod, pod); err != nil {
		return nil, nil, fmt.Errorf("%s: pod: %v", path, err)
	}
	if err := protojson.Unmarshal(raw.Container, ctr); err != nil {
		return nil, nil, fmt.Errorf("%s: container: %v", path, err)
	}
	return pod, ctr, nil
}

func writeExplanationJSON(w io.Writer, d *engine.Decision) error {
	out := explanation{Allowed: d.Allowed, Reason: d.Reason, Trace: d.Trace,
		Violations: append(append([]engine.Finding{}, d.Refusals...), d.Violations...),
		Additions:  append([]engine.Finding{}, d.Additions...)}
	out.Adjustment = json.RawMessage("{}")
	if d.Adjustment != nil {
		b, err := protojson.Marshal(d.Adjustment)
		if err != nil {
			return err
		}
		out.Adjustment = b
	}
	if out.Trace == nil {
		out.Trace = []engine.TraceEntry{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeExplanationText(w io.Writer, pod *api.PodSandbox, c *api.Container, d *engine.Decision) {
	fmt.Fprintf(w, "pod %s/%s (uid %s), container %s\n", pod.GetNamespace(), pod.GetName(), pod.GetUid(), c.GetName())
	if d.Allowed {
		fmt.Fprintln(w, "verdict: allowed")
	} else {
		fmt.Fprintf(w, "verdict: REFUSED\nreason:  %s\n", d.Reason)
	}
	fmt.Fprintln(w, "\nrule by rule:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  RULE\tFIELD\tACTION\tVALUE")
	for _, t := range d.Trace {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.Rule, dash(t.Field), t.Action, dash(t.Value))
	}
	tw.Flush()
	if len(d.Violations) > 0 {
		fmt.Fprintln(w, "\naudit findings (nothing changed for these):")
		for _, v := range d.Violations {
			fmt.Fprintf(w, "  %s: %s\n", v.Rule, v.Message)
		}
		if d.ViolationsOmitted > 0 {
			fmt.Fprintf(w, "  and %d more (a decision keeps the first %d)\n", d.ViolationsOmitted, engine.MaxFindings)
		}
	}
	if len(d.Additions) > 0 {
		fmt.Fprintln(w, "\naudit additions (what enforce would add; nothing changed for these):")
		for _, v := range d.Additions {
			fmt.Fprintf(w, "  %s: %s\n", v.Rule, v.Message)
		}
	}
	if d.Adjustment != nil {
		b, _ := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(d.Adjustment)
		fmt.Fprintf(w, "\nadjustment sent to the runtime:\n%s\n", b)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return strconv.Quote(s)[1 : len(strconv.Quote(s))-1]
}
