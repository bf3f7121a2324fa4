// Package engine is specguard's decision: given a compiled policy, a pod, a
// container and the facts gathered for it (Facts: restart count, node name,
// the runtime's default seccomp profile), it returns the adjustment to make
// or the reason to refuse, with a trace of which rule set what. It is pure:
// no I/O, no clock, no globals; TestEngineImports holds it to that.
package engine

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/annotations"
	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/policy"
)

// Request is one CreateContainer as the engine sees it: the runtime's
// request and the facts gathered for it.
type Request struct {
	Pod       *api.PodSandbox
	Container *api.Container
	Facts     Facts
}

// TraceEntry records one thing a rule did to one field.
type TraceEntry struct {
	Rule   string `json:"rule"`
	Field  string `json:"field"`
	Action string `json:"action"`
	Value  string `json:"value"`
}

// Decision is the engine's verdict at CreateContainer.
type Decision struct {
	Allowed    bool
	Reason     string // why the container is refused, when it is: the text of Err
	Adjustment *api.ContainerAdjustment
	Trace      []TraceEntry
	Violations []Finding // audit-mode findings: what enforce would refuse or change of the container's own
	Additions  []Finding // audit-mode additions: what enforce would add that the container lacks
	Refusals   []Finding // enforce-mode findings that refuse
	// Findings beyond MaxFindings of each kind are counted, not kept:
	// a pod with thousands of denied binds is refused as surely by the
	// first ones, and the text stays readable (see FindingsText).
	RefusalsOmitted   int
	ViolationsOmitted int
	Rules             []string // rules that changed something
	QOSClass          kubelet.QOSClass
	LogPath           string
}

// Built-in pseudo-rule names used in traces and violations.
const (
	RuleMetadata = "metadata"
	RuleIdentity = "identity"
)

// Trace actions of audit-mode reports, also the action label of
// specguard_rule_actions_total: a finding (what enforce would refuse, or
// change of what the container has or asked for) and an addition (what
// enforce would add where the container has nothing).
const (
	ActionAudit    = "audit"
	ActionAuditAdd = "audit-add"
)

// PodLogDir is the pod's log directory: the one containerd reports for the
// sandbox, else the kubelet's layout under the policy's podLogsDir. It is
// "" when neither can be trusted to be a directory of this pod's own (see
// podLogDir): then no log path is written and the log directory not read.
func PodLogDir(p *policy.Policy, pod *api.PodSandbox) string {
	d, _ := podLogDir(p, pod)
	return d
}

// podLogDir is PodLogDir with the reason when it is "". containerd's
// directory is where containerd writes the pod's logs, whatever it is, so
// it is taken as given once absolute (and cleaned). The layout's parts
// come from the sandbox's metadata, which the kubelet fills with DNS names
// and a UID but crictl with anything: a slash in them would put the
// directory elsewhere than under podLogsDir.
func podLogDir(p *policy.Policy, pod *api.PodSandbox) (string, string) {
	if d := pod.GetAnnotations()[kubelet.CRISandboxLogDirAnnotation]; d != "" {
		if !path.IsAbs(d) || strings.IndexByte(d, 0) >= 0 {
			return "", fmt.Sprintf("the sandbox's log directory %q is not an absolute path", clip(d))
		}
		return path.Clean(d), ""
	}
	for _, part := range [...]string{pod.GetNamespace(), pod.GetName(), pod.GetUid()} {
		if strings.ContainsAny(part, "/\x00") {
			return "", fmt.Sprintf("the pod's namespace, name or UID %q has a slash or NUL: its log directory would not be under %s", clip(part), p.Node.PodLogsDir)
		}
	}
	return kubelet.BuildPodLogsDirectory(p.Node.PodLogsDir, pod.GetNamespace(), pod.GetName(), pod.GetUid()), ""
}

// decider holds the state of one decision.
type decider struct {
	p   *policy.Policy
	req *Request
	d   *Decision
	adj *api.ContainerAdjustment

	data    *policy.TemplateData
	env     []envValue
	res     resourceState
	changed []*policy.Rule // rules that changed something, in rule order at the end

	hostBinds []hostBind // see hostBindMounts; nil until worked out

	// Backing storage for the common case, allocated with the decider
	// rather than grown append by append on every request.
	dataBuf     policy.TemplateData
	envBuf      [8]envValue
	changedBuf  [8]*policy.Rule
	hostBindBuf [4]hostBind
}

type envValue struct {
	name, value string
	rule        *policy.Rule
}

// Decide evaluates the policy for one container. It never panics on input:
// missing pod or container fields are treated as empty.
func Decide(p *policy.Policy, req *Request) *Decision {
	if req.Pod == nil {
		req.Pod = &api.PodSandbox{}
	}
	if req.Container == nil {
		req.Container = &api.Container{}
	}
	// Sized for a typical decision (identity, metadata, a few rules) so
	// that the map and the trace do not regrow while it is made. 14 is what
	// two groups of 8 map slots hold at the map's 7/8 load; 16 would take 4.
	adj := &api.ContainerAdjustment{Annotations: make(map[string]string, 14)}
	d := &Decision{Allowed: true, Adjustment: adj, Trace: make([]TraceEntry, 0, 24)}
	x := &decider{p: p, req: req, d: d, adj: adj}
	x.env, x.changed = x.envBuf[:0], x.changedBuf[:0]
	x.metadata()
	if x.checkLimits() {
		x.rules()
	}
	x.finish()
	return d
}

func (x *decider) trace(rule, field, action, value string) {
	x.d.Trace = append(x.d.Trace, TraceEntry{Rule: rule, Field: field, Action: action, Value: value})
}

// MaxFindings is how many refusals, and how many audit findings, a
// decision keeps with their messages; the rest are counted. It bounds the
// work of a request that fails one check per mount or device (formatting,
// trace) as well as the text.
const MaxFindings = 32

// MaxFindingsText bounds, in bytes, the findings quoted in a refusal and
// in the violations annotation.
const MaxFindingsText = 4096

// omitFinding reports whether a finding in mode would be past
// MaxFindings, and counts it if so: a check calls it before building a
// message it would only throw away.
func (x *decider) omitFinding(mode policy.Mode) bool {
	if mode == policy.ModeAudit {
		if len(x.d.Violations) >= MaxFindings {
			x.d.ViolationsOmitted++
			return true
		}
		return false
	}
	if len(x.d.Refusals) >= MaxFindings {
		x.d.RefusalsOmitted++
		return true
	}
	return false
}

// refuse records a finding: it refuses in enforce mode, reports in audit.
func (x *decider) refuse(rule string, mode policy.Mode, msg string) {
	x.refuseAt(rule, mode, "", msg)
}

// refuseAt is refuse for a finding about one field of the container.
func (x *decider) refuseAt(rule string, mode policy.Mode, field, msg string) {
	if x.omitFinding(mode) {
		return
	}
	if mode == policy.ModeAudit {
		x.finding(rule, field, msg)
		return
	}
	x.d.Refusals = append(x.d.Refusals, Finding{Rule: rule, Message: msg, Field: field})
	x.trace(rule, field, "refuse", msg)
}

// An audit-mode rule reports what enforce would do, as one of two kinds.
// A finding is what enforce would refuse, or a change to what the
// container has: its env, annotations, resources, rlimits, its seccomp
// profile, a mount it has, or a value clamped into bounds. It goes to
// specguard.io/violations and the info log. An addition is what enforce
// would add where the container has nothing (an env variable, an
// annotation, a default, a mask): it goes only to the trace (audit trail,
// debug log) and the metrics, so that a rule adding env to every container
// does not bury the findings.
func (x *decider) finding(rule, field, msg string) {
	if len(x.d.Violations) >= MaxFindings {
		x.d.ViolationsOmitted++
		return
	}
	x.d.Violations = append(x.d.Violations, Finding{Rule: rule, Message: msg, Field: field})
	x.trace(rule, field, ActionAudit, msg)
}

func (x *decider) addition(rule, field, msg string) {
	x.d.Additions = append(x.d.Additions, Finding{Rule: rule, Message: msg})
	x.trace(rule, field, ActionAuditAdd, msg)
}

// auditChange reports an audit-mode change as a finding when it replaces a
// value the container has, else as an addition.
func (x *decider) auditChange(rule, field string, hasOwn bool, msg string) {
	if hasOwn {
		x.finding(rule, field, msg)
		return
	}
	x.addition(rule, field, msg)
}

func (x *decider) markChanged(r *policy.Rule) {
	for _, c := range x.changed {
		if c == r {
			return
		}
	}
	x.changed = append(x.changed, r)
}

func (x *decider) metadata() {
	p, pod, c := x.p, x.req.Pod, x.req.Container
	x.d.QOSClass = QOSClassOf(c)
	// The log path is confined to the pod's log directory or not given:
	// it is metadata for log readers, and a wrong one would point them
	// (and the POD_LOG_PATH a rule renders) at another file.
	dir, omit := podLogDir(p, pod)
	switch {
	case dir == "":
	case !kubelet.IsPathComponent(c.GetName()):
		omit = fmt.Sprintf("container name %q is not a single path component: its log path would not be in %s", clip(c.GetName()), dir)
	default:
		x.d.LogPath = kubelet.BuildContainerLogPath(dir, c.GetName(), x.req.Facts.Restart.Count)
	}
	m := p.Metadata
	if m.RestartCount {
		rc := strconv.Itoa(x.req.Facts.Restart.Count)
		x.adj.AddAnnotation(annotations.RestartCount, rc)
		x.adj.AddAnnotation(kubelet.ContainerRestartCountAnnotation, rc)
		x.trace(RuleMetadata, "annotations["+annotations.RestartCount+"]", "set", rc)
	}
	if m.LogPath && omit != "" {
		x.trace(RuleMetadata, "annotations["+annotations.LogPath+"]", "omit", omit)
	} else if m.LogPath {
		x.adj.AddAnnotation(annotations.LogPath, x.d.LogPath)
		x.trace(RuleMetadata, "annotations["+annotations.LogPath+"]", "set", x.d.LogPath)
	}
	if m.QOSClass {
		x.adj.AddAnnotation(annotations.QOSClass, string(x.d.QOSClass))
		x.trace(RuleMetadata, "annotations["+annotations.QOSClass+"]", "set", string(x.d.QOSClass))
	}
	if m.IdentityCheck != policy.ModeOff {
		x.checkIdentity(m.IdentityCheck)
	}
	if m.Identity {
		x.identity()
	}
}

// identityOf is what the kubelet's identity labels of c must say: the
// sandbox's name, namespace and UID and the container's CRI name.
func identityOf(pod *api.PodSandbox, c *api.Container) [4][2]string {
	return [4][2]string{
		{kubelet.PodNameLabel, pod.GetName()},
		{kubelet.PodNamespaceLabel, pod.GetNamespace()},
		{kubelet.PodUIDLabel, pod.GetUid()},
		{kubelet.ContainerNameLabel, c.GetName()},
	}
}

// checkIdentity catches container labels that contradict the sandbox.
// Labels cannot be changed through NRI, so a contradiction is refused
// (enforce) or reported (audit), never corrected. Whatever the mode,
// specguard matches rules, renders templates and writes annotations from
// the sandbox, so spoofed labels change nothing specguard does; what is
// at stake is log shippers and metrics that read the labels. The CRI
// allows such labels (critest sends them) and the kubelet never does, so
// refusing them is the policy's choice.
func (x *decider) checkIdentity(mode policy.Mode) {
	pod, c := x.req.Pod, x.req.Container
	labels := c.GetLabels()
	if len(labels) == 0 {
		return
	}
	for _, w := range identityOf(pod, c) {
		if got, ok := labels[w[0]]; ok && got != w[1] {
			x.refuse(RuleIdentity, mode, fmt.Sprintf("container label %s=%q contradicts its sandbox (%q) (pod: %q, container: %s)",
				w[0], clip(got), clip(w[1]), podRef(pod), c.GetName()))
		}
	}
}

// identity mirrors the sandbox's identity into OCI annotations for
// OCI-level consumers (hooks, runc, audit tools), whatever the container's
// labels say.
func (x *decider) identity() {
	pod, c := x.req.Pod, x.req.Container
	for _, w := range identityOf(pod, c) {
		x.adj.AddAnnotation(w[0], w[1])
	}
	x.trace(RuleIdentity, "annotations[io.kubernetes.*]", "set", podRef(pod)+"/"+c.GetName())
}

func podRef(pod *api.PodSandbox) string {
	return pod.GetNamespace() + "/" + pod.GetName()
}

// clip bounds untrusted strings quoted in messages.
// clip shortens s for a message, on a rune boundary: a message goes into
// the violations annotation or the refusal, both protobuf strings that must
// stay valid UTF-8.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	n := 64
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func (x *decider) templateData() *policy.TemplateData {
	if x.data == nil {
		pod, c := x.req.Pod, x.req.Container
		node := x.p.Node.Name
		if node == "" {
			node = x.req.Facts.nodeName()
		}
		x.data = &x.dataBuf
		*x.data = policy.TemplateData{
			Pod: policy.PodData{Name: pod.GetName(), Namespace: pod.GetNamespace(), UID: pod.GetUid(),
				Labels: pod.GetLabels(), Annotations: pod.GetAnnotations()},
			Container:    policy.ContainerData{Name: c.GetName(), Image: imageOf(c)},
			RestartCount: x.req.Facts.Restart.Count,
			LogPath:      x.d.LogPath,
			QOSClass:     string(x.d.QOSClass),
			Node:         policy.NodeData{Name: node},
		}
	}
	return x.data
}

func imageOf(c *api.Container) string {
	if img := c.GetImage().GetName(); img != "" {
		return img
	}
	return c.GetAnnotations()[kubelet.CRIImageNameAnnotation]
}

func (x *decider) rules() {
	if len(x.p.Rules) == 0 {
		return
	}
	pod, c := x.req.Pod, x.req.Container
	subj := policy.Subject{
		Namespace: pod.GetNamespace(), PodLabels: pod.GetLabels(), Container: c.GetName(),
		Image: imageOf(c), RuntimeHandler: pod.GetRuntimeHandler(),
	}
	x.res.init(c)
	for i := range x.p.EachCandidate(subj.Namespace) {
		r := x.p.Rules[i]
		if !r.Matches(&subj) {
			continue
		}
		x.trace(r.Name, "", "match", "")
		x.applyEnv(r)
		x.applyAnnotations(r)
		if r.Resources != nil {
			x.applyResources(r)
		}
		if r.Security != nil {
			x.applySecurity(r)
		}
	}
}

func (x *decider) applyEnv(r *policy.Rule) {
	for i := range r.Env {
		t := &r.Env[i]
		v, err := t.Render(x.templateData())
		if err == nil && strings.IndexByte(v, 0) >= 0 {
			// The runtime could not exec the process with it.
			err = errors.New("rendered value contains a NUL byte")
		}
		if err != nil {
			x.refuse(r.Name, r.Mode, "env "+t.Name+": "+err.Error())
			continue
		}
		if r.Mode == policy.ModeAudit {
			switch cur, ok := envOf(x.req.Container, t.Name); {
			case !ok:
				x.addition(r.Name, t.Field, "would set env "+t.Name+"="+clip(v))
			case cur != v:
				x.finding(r.Name, t.Field, "would change env "+t.Name+" from "+strconv.Quote(clip(cur))+" to "+strconv.Quote(clip(v)))
			}
			continue
		}
		x.trace(r.Name, t.Field, "set", v)
		set := false
		for j := range x.env {
			if x.env[j].name == t.Name {
				x.env[j].value, x.env[j].rule, set = v, r, true
			}
		}
		if !set {
			x.env = append(x.env, envValue{t.Name, v, r})
		}
	}
}

func envOf(c *api.Container, name string) (string, bool) {
	for _, kv := range c.GetEnv() {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

func (x *decider) applyAnnotations(r *policy.Rule) {
	for i := range r.AddAnnotations {
		t := &r.AddAnnotations[i]
		v, err := t.Render(x.templateData())
		if err != nil {
			x.refuse(r.Name, r.Mode, "annotation "+t.Name+": "+err.Error())
			continue
		}
		if r.Mode == policy.ModeAudit {
			switch cur, ok := x.req.Container.GetAnnotations()[t.Name]; {
			case !ok:
				x.addition(r.Name, t.Field, "would set annotation "+t.Name+"="+clip(v))
			case cur != v:
				x.finding(r.Name, t.Field, "would change annotation "+t.Name+" from "+strconv.Quote(clip(cur))+" to "+strconv.Quote(clip(v)))
			}
			continue
		}
		x.adj.AddAnnotation(t.Name, v)
		x.trace(r.Name, t.Field, "set", v)
		x.markChanged(r)
	}
	for _, k := range r.RemoveAnnotations {
		if _, ok := x.req.Container.GetAnnotations()[k]; !ok {
			continue
		}
		if r.Mode == policy.ModeAudit {
			x.finding(r.Name, "annotations["+k+"]", "would remove annotation "+k)
			continue
		}
		x.adj.RemoveAnnotation(k)
		x.trace(r.Name, "annotations["+k+"]", "remove", "")
		x.markChanged(r)
	}
}

// FindingsText joins findings with "; ", as many as fit in
// MaxFindingsText bytes (at least the first, cut to fit), and says how
// many more there are: those that did not fit and omitted, the ones past
// MaxFindings that were only counted.
func FindingsText(vs []Finding, omitted int, format func(Finding) string) string {
	var b strings.Builder
	shown := 0
	for _, v := range vs {
		part := format(v)
		sep := 0
		if shown > 0 {
			sep = len("; ")
		}
		if b.Len()+sep+len(part) > MaxFindingsText {
			if shown > 0 {
				break
			}
			part = clipTo(part, MaxFindingsText)
		}
		if shown > 0 {
			b.WriteString("; ")
		}
		b.WriteString(part)
		shown++
	}
	if more := len(vs) - shown + omitted; more > 0 {
		fmt.Fprintf(&b, "; and %d more", more)
	}
	return b.String()
}

// clipTo cuts s to at most n bytes on a rune boundary, marking the cut.
func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n -= len("...")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// finish turns the working values into the adjustment and the verdict.
func (x *decider) finish() {
	if len(x.env) > 0 {
		// What AddEnv does, with the values in one block and the list
		// sized once instead of an allocation per variable and regrowth.
		kvs := make([]api.KeyValue, len(x.env))
		x.adj.Env = slices.Grow(x.adj.Env, len(x.env))
		for i, e := range x.env {
			if cur, ok := envOf(x.req.Container, e.name); ok && cur == e.value {
				continue
			}
			kvs[i].Key, kvs[i].Value = e.name, e.value
			x.adj.Env = append(x.adj.Env, &kvs[i])
			x.markChanged(e.rule)
		}
	}
	x.res.apply(x)
	slices.SortFunc(x.changed, func(a, b *policy.Rule) int { return cmp.Compare(a.Index, b.Index) })
	if len(x.changed) > 0 {
		x.d.Rules = make([]string, 0, len(x.changed))
	}
	for _, r := range x.changed {
		x.d.Rules = append(x.d.Rules, r.Name)
	}
	if len(x.d.Rules) > 0 {
		x.adj.AddAnnotation(annotations.Rules, strings.Join(x.d.Rules, ","))
	}
	if len(x.d.Violations) > 0 {
		// Findings quote pod input, cut to length: keep the annotation valid
		// UTF-8 or the reply cannot be marshalled and the creation fails.
		x.adj.AddAnnotation(annotations.Violations, strings.ToValidUTF8(
			FindingsText(x.d.Violations, x.d.ViolationsOmitted, func(v Finding) string { return v.Rule + ": " + v.Message }), "\uFFFD"))
	}
	if len(x.d.Refusals) > 0 {
		x.d.Allowed = false
		x.d.Reason = strings.ToValidUTF8("specguard refused container "+clipTo(x.req.Container.GetName(), 256)+" of pod "+
			clipTo(podRef(x.req.Pod), 512)+": "+FindingsText(x.d.Refusals, x.d.RefusalsOmitted,
			Finding.ruleText), "\uFFFD")
		x.adj = nil
		x.d.Adjustment = nil
	}
}
