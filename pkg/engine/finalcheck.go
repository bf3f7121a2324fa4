package engine

// The validator's second half: the container as the runtime will create
// it, every plugin's changes applied, judged by the same rules that judged
// it at CreateContainer (Decide, run again), and specguard's own values
// looked for in it. A plugin after specguard, or one that removes and
// re-adds what specguard set, is held to the policy as specguard was.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/proto"

	"github.com/specguard/specguard/pkg/annotations"
	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/policy"
)

// restartCount is the count specguard gave the container at
// CreateContainer: one of the two annotations it writes it in, in the
// merged adjustment, that NRI says specguard set; else the kubelet's (what
// the decision takes first); else 0. A value another plugin wrote is never
// read: it is what the integrity check judges. Without specguard's own
// name the merged value is taken as it is.
func (va *validation) restartCount(c *api.Container, adj *api.ContainerAdjustment) int {
	for _, k := range [...]string{annotations.RestartCount, kubelet.ContainerRestartCountAnnotation} {
		if o, _ := va.owners.AnnotationOwner(va.id, k); va.self == "" || o == va.self {
			if n, err := strconv.Atoi(adj.GetAnnotations()[k]); err == nil && n >= 0 {
				return n
			}
		}
	}
	if n, err := strconv.Atoi(c.GetAnnotations()[kubelet.ContainerRestartCountAnnotation]); err == nil && n >= 0 {
		return n
	}
	return 0
}

// validateFinal judges the final container. Findings:
//   - a rule refuses the final container where it did not refuse the
//     pristine one: blamed on the owner of the field the refusal is about;
//   - a rule would still change the final container (a value past a max
//     that clamp mode would bring back, a forced value replaced): blamed
//     on the plugin NRI says set it; values specguard owns are its own;
//   - a value specguard set is not in the final container (integrity);
//   - a change to a field no rule judges, unless allowFields lists it;
//   - a cgroup v2 file that stands for a field a matching rule bounds.
func (va *validation) validateFinal(p *policy.Policy, pod *api.PodSandbox, c *api.Container, adj *api.ContainerAdjustment, own *Decision, facts Facts) {
	final := FinalContainer(c, adj)
	fin := Decide(p, &Request{Pod: pod, Container: final, Facts: facts})

	before := make(map[Finding]bool, len(own.Refusals)+len(own.Violations))
	for _, v := range own.Refusals {
		before[v] = true
	}
	for _, v := range own.Violations {
		before[v] = true
	}
	for _, v := range fin.Refusals {
		if !before[v] {
			va.blameField(v.Field, v.Rule, "makes the container fail the rule: "+v.Message, false)
		}
	}
	for _, v := range fin.Violations {
		if !before[v] {
			va.blameField(v.Field, v.Rule, "makes the container fail the rule (audit): "+v.Message, true)
		}
	}

	// specguard's own values. Without its own name, or when it did not
	// answer (failurePolicy ignore), what it set cannot be told.
	judged := map[string]bool{}
	if va.self != "" && own.Allowed && va.answered(adj) {
		for _, ch := range adjustmentChanges(final, own.Adjustment, false) {
			judged[ch.field] = va.ownValueChanged(ch.field, ruleOf(own.Trace, ch.field),
				fmt.Sprintf("changes specguard's %s from %s to %s", ch.field, ch.want, ch.got))
		}
		// A later plugin's removal of a key specguard set stays in the
		// merged adjustment beside specguard's value, and the runtime
		// applies the two in map order: the value may be gone. One that
		// removed and set it again owns it, even with the same value.
		for k, v := range own.Adjustment.GetAnnotations() {
			field := "annotations[" + k + "]"
			if judged[field] {
				continue
			}
			_, removed := adj.GetAnnotations()[api.MarkForRemoval(k)]
			switch owner := va.fieldOwner(field); {
			case removed && owner == va.self:
				judged[field] = true
				va.ownValueChanged(field, ruleOf(own.Trace, field),
					fmt.Sprintf("removes specguard's %s (%s)", field, strconv.Quote(clip(v))))
			case owner != "" && owner != va.self && !runsBefore(owner, va.self):
				judged[field] = true
				va.ruleFinding(owner, field, ruleOf(own.Trace, field),
					fmt.Sprintf("sets specguard's %s again (to %s)", field, strconv.Quote(clip(v))), false)
			}
		}
	}

	// Values the policy would still change. A value specguard's own
	// decision gave is not judged again: the decision is not always its
	// own fixed point (a memory limit specguard defaults changes the QoS
	// class it derives).
	ownValue := map[string]string{}
	for _, ch := range adjustmentChanges(c, own.Adjustment, false) {
		ownValue[ch.field] = ch.want
	}
	for _, ch := range adjustmentChanges(final, fin.Adjustment, true) {
		owner := va.fieldOwner(ch.field)
		if v, ok := ownValue[ch.field]; judged[ch.field] || owner == "" || owner == va.self || (ok && v == ch.got) {
			continue // judged above, or the container's own value or specguard's: judged at CreateContainer
		}
		va.ruleFinding(owner, ch.field, ruleOf(fin.Trace, ch.field),
			fmt.Sprintf("sets %s to %s, which the policy holds at %s", ch.field, ch.got, ch.want), false)
	}

	va.checkUnchecked(adj)
	va.checkUnifiedShadows(p, pod, c, adj)
}

// ownValueChanged blames a change to a value specguard set on the plugin
// NRI says set the field last, or, where NRI records none (a removal of
// an annotation or env that was not re-added), on the untrusted plugins
// consulted. A plugin before specguard set the value specguard's own
// CreateContainer then saw and judged (and so did not set): the request
// carries the container from before every plugin, so the decision made
// again here cannot tell, but the index can. The rules judge that value
// on the final container. It reports whether it blamed anyone.
func (va *validation) ownValueChanged(field, rule, detail string) bool {
	owner := va.fieldOwner(field)
	if owner == "" || owner == va.self {
		va.blameConsultedRule(field, rule, detail, false)
		return true
	}
	if runsBefore(owner, va.self) {
		return false
	}
	va.ruleFinding(owner, field, rule, detail, false)
	return true
}

// runsBefore reports whether NRI calls plugin a before plugin b: in index
// order. Equal or unreadable indexes are not before.
func runsBefore(a, b string) bool {
	ai, _, ok1 := policy.SplitPluginID(a)
	bi, _, ok2 := policy.SplitPluginID(b)
	return ok1 && ok2 && ai < bi
}

// answered reports whether specguard's own CreateContainer reply is in
// the merged adjustment: NRI records it as the owner of something.
func (va *validation) answered(adj *api.ContainerAdjustment) bool {
	for k := range adj.GetAnnotations() {
		if o, _ := va.owners.AnnotationOwner(va.id, k); o == va.self {
			return true
		}
	}
	for _, m := range adj.GetMounts() {
		if o, _ := va.owners.MountOwner(va.id, m.GetDestination()); o == va.self {
			return true
		}
	}
	for _, e := range adj.GetEnv() {
		if o, _ := va.owners.EnvOwner(va.id, e.GetKey()); o == va.self {
			return true
		}
	}
	return false
}

func (va *validation) ruleFinding(owner, field, rule, detail string, audit bool) {
	if trustedPlugin(va.v.TrustedPlugins, owner) {
		return
	}
	if rule == "" {
		rule = "specguard"
	}
	va.findings = append(va.findings, Finding{Plugin: owner, Field: field, Message: clipTo(detail, 512), Rule: rule, Audit: audit})
}

// blameField puts a finding about field on its owner, or, for a field NRI
// records no owner for, on the untrusted plugins consulted.
func (va *validation) blameField(field, rule, detail string, audit bool) {
	owners := va.fieldOwners(field)
	if len(owners) == 0 {
		va.blameConsultedRule(field, rule, detail, audit)
		return
	}
	for _, o := range owners {
		if o == va.self {
			continue
		}
		va.ruleFinding(o, field, rule, detail, audit)
	}
}

// blameConsultedRule is blameConsulted for a rule's finding; an
// audit-mode rule's findings are reported, not refused.
func (va *validation) blameConsultedRule(field, rule, detail string, audit bool) {
	n := len(va.findings)
	va.blameConsulted(va.plugins, field, detail, "")
	for i := n; i < len(va.findings); i++ {
		va.findings[i].Audit = audit
		va.findings[i].Rule = rule
		if rule == "" {
			va.findings[i].Rule = "specguard"
		}
	}
}

// fieldOwners is every owner NRI records for field (several for the
// namespaces, which a refusal names together).
func (va *validation) fieldOwners(field string) []string {
	if field == "linux.namespaces" {
		m, _ := va.owners.NamespaceOwners(va.id)
		var out []string
		for _, o := range m {
			out = append(out, o)
		}
		return out
	}
	if o := va.fieldOwner(field); o != "" {
		return []string{o}
	}
	return nil
}

// fieldOwner asks NRI which plugin set field, named as the engine names
// fields (the policy's resources.* names, and NRI's adjustment names for
// the rest).
func (va *validation) fieldOwner(field string) string {
	o, id := va.owners, va.id
	name, key, _ := strings.Cut(strings.TrimSuffix(field, "]"), "[")
	var owner string
	switch name {
	case "annotations":
		owner, _ = o.AnnotationOwner(id, key)
	case "env":
		owner, _ = o.EnvOwner(id, key)
	case "mounts":
		owner, _ = o.MountOwner(id, key)
	case "linux.devices":
		owner, _ = o.DeviceOwner(id, key)
	case "linux.sysctl":
		owner, _ = o.SysctlOwner(id, key)
	case "linux.netDevices":
		owner, _ = o.LinuxNetDeviceOwner(id, key)
	case "linux.seccompPolicy":
		owner, _ = o.SeccompPolicyOwner(id)
	case "resources.cpu.shares":
		owner, _ = o.CPUSharesOwner(id)
	case "resources.cpu.quota":
		owner, _ = o.CPUQuotaOwner(id)
	case "resources.cpu.period":
		owner, _ = o.CPUPeriodOwner(id)
	case "resources.cpu.cpus":
		owner, _ = o.CPUSetCPUsOwner(id)
	case "resources.cpu.mems":
		owner, _ = o.CPUSetMemsOwner(id)
	case "resources.memory.limit":
		owner, _ = o.MemLimitOwner(id)
	case "resources.memory.reservation":
		owner, _ = o.MemReservationOwner(id)
	case "resources.memory.swap":
		owner, _ = o.MemSwapLimitOwner(id)
	case "resources.pids.limit":
		owner, _ = o.PidsLimitOwner(id)
	case "resources.oomScoreAdj":
		owner, _ = o.OomScoreAdjOwner(id)
	case "resources.hugepages":
		owner, _ = o.HugepageLimitOwner(id, key)
	case "resources.rlimits":
		owner, _ = o.RlimitOwner(id, key)
	case "resources.unified":
		owner, _ = o.CgroupsUnifiedOwner(id, key)
	case "resources.blockioClass":
		owner, _ = o.BlockioClassOwner(id)
	case "resources.rdtClass":
		owner, _ = o.RdtClassOwner(id)
	}
	// NRI records a plugin that removed a field as "-<plugin>".
	owner, _ = api.IsMarkedForRemoval(owner)
	return owner
}

// ruleOf is the rule that last set field in a decision's trace.
func ruleOf(trace []TraceEntry, field string) string {
	for i := len(trace) - 1; i >= 0; i-- {
		if t := trace[i]; t.Field == field && t.Action != "match" {
			return t.Rule
		}
	}
	if strings.HasPrefix(field, "annotations[") {
		return RuleMetadata
	}
	return ""
}

// change is a value an adjustment sets that the container does not have.
type change struct {
	field, want, got string
}

// adjustmentChanges lists what adj would change in c: the values it sets
// that c does not have, in the engine's field names. computed leaves out
// the annotations a decision writes about itself (the rules that changed
// something, the audit findings), which differ between two decisions
// without anything to judge.
func adjustmentChanges(c *api.Container, adj *api.ContainerAdjustment, computed bool) []change {
	if adj == nil {
		return nil
	}
	var out []change
	add := func(field, want, got string) { out = append(out, change{field, want, got}) }
	for k, v := range adj.GetAnnotations() {
		if _, removed := api.IsMarkedForRemoval(k); removed {
			continue
		}
		if computed && (k == annotations.Rules || k == annotations.Violations) {
			continue
		}
		if got, ok := c.GetAnnotations()[k]; !ok || got != v {
			add("annotations["+k+"]", strconv.Quote(clip(v)), quoteOrAbsent(got, ok))
		}
	}
	for _, kv := range adj.GetEnv() {
		if _, removed := kv.IsMarkedForRemoval(); removed {
			continue
		}
		if got, ok := envOf(c, kv.GetKey()); !ok || got != kv.GetValue() {
			add("env["+kv.GetKey()+"]", strconv.Quote(clip(kv.GetValue())), quoteOrAbsent(got, ok))
		}
	}
	for _, m := range adj.GetMounts() {
		if _, removed := m.IsMarkedForRemoval(); removed {
			continue
		}
		var got *api.Mount
		for _, o := range c.GetMounts() {
			if o.GetDestination() == m.GetDestination() {
				got = o
			}
		}
		if !proto.Equal(got, m) {
			add("mounts["+m.GetDestination()+"]", describeMount(m), describeMount(got))
		}
	}
	l, cl := adj.GetLinux(), c.GetLinux()
	if sp := l.GetSeccompPolicy(); sp != nil && !proto.Equal(sp, cl.GetSeccompPolicy()) {
		add("linux.seccompPolicy", describeSeccomp(sp), describeSeccomp(cl.GetSeccompPolicy()))
	}
	if v := l.GetOomScoreAdj(); v != nil && (cl.GetOomScoreAdj() == nil || cl.GetOomScoreAdj().GetValue() != v.GetValue()) {
		add("resources.oomScoreAdj", strconv.FormatInt(v.GetValue(), 10), optInt(cl.GetOomScoreAdj()))
	}
	r, cr := l.GetResources(), cl.GetResources()
	mem, cmem := r.GetMemory(), cr.GetMemory()
	intField := func(f policy.Field, want, got *api.OptionalInt64) {
		if want != nil && (got == nil || got.GetValue() != want.GetValue()) {
			add(f.String(), formatValue(f, want.GetValue()), optInt64(f, got))
		}
	}
	intField(policy.MemoryLimit, mem.GetLimit(), cmem.GetLimit())
	intField(policy.MemoryReservation, mem.GetReservation(), cmem.GetReservation())
	intField(policy.MemorySwap, mem.GetSwap(), cmem.GetSwap())
	cpu, ccpu := r.GetCpu(), cr.GetCpu()
	if v := cpu.GetShares(); v != nil && (ccpu.GetShares() == nil || ccpu.GetShares().GetValue() != v.GetValue()) {
		got := "unset"
		if ccpu.GetShares() != nil {
			got = strconv.FormatUint(ccpu.GetShares().GetValue(), 10)
		}
		add(policy.CPUShares.String(), strconv.FormatUint(v.GetValue(), 10), got)
	}
	intField(policy.CPUQuota, cpu.GetQuota(), ccpu.GetQuota())
	if v := cpu.GetPeriod(); v != nil && (ccpu.GetPeriod() == nil || ccpu.GetPeriod().GetValue() != v.GetValue()) {
		got := "unset"
		if ccpu.GetPeriod() != nil {
			got = strconv.FormatUint(ccpu.GetPeriod().GetValue(), 10)
		}
		add(policy.CPUPeriod.String(), strconv.FormatUint(v.GetValue(), 10), got)
	}
	if v := cpu.GetCpus(); v != "" && v != ccpu.GetCpus() {
		add("resources.cpu.cpus", strconv.Quote(v), strconv.Quote(ccpu.GetCpus()))
	}
	if v := cpu.GetMems(); v != "" && v != ccpu.GetMems() {
		add("resources.cpu.mems", strconv.Quote(v), strconv.Quote(ccpu.GetMems()))
	}
	if v := r.GetPids(); v != nil && (cr.GetPids() == nil || cr.GetPids().GetLimit() != v.GetLimit()) {
		got := "unset"
		if cr.GetPids() != nil {
			got = strconv.FormatInt(cr.GetPids().GetLimit(), 10)
		}
		add(policy.PidsLimit.String(), strconv.FormatInt(v.GetLimit(), 10), got)
	}
	for _, h := range r.GetHugepageLimits() {
		got := "unset"
		for _, o := range cr.GetHugepageLimits() {
			if o.GetPageSize() == h.GetPageSize() {
				got = formatValue(policy.MemoryLimit, int64(o.GetLimit()))
			}
		}
		if want := formatValue(policy.MemoryLimit, int64(h.GetLimit())); want != got {
			add("resources.hugepages["+h.GetPageSize()+"]", want, got)
		}
	}
	for k, v := range r.GetUnified() {
		if got, ok := cr.GetUnified()[k]; !ok || got != v {
			add("resources.unified["+k+"]", strconv.Quote(v), quoteOrAbsent(got, ok))
		}
	}
	if v := r.GetBlockioClass(); v != nil && v.GetValue() != cr.GetBlockioClass().GetValue() {
		add("resources.blockioClass", strconv.Quote(v.GetValue()), strconv.Quote(cr.GetBlockioClass().GetValue()))
	}
	if v := r.GetRdtClass(); v != nil && v.GetValue() != cr.GetRdtClass().GetValue() {
		add("resources.rdtClass", strconv.Quote(v.GetValue()), strconv.Quote(cr.GetRdtClass().GetValue()))
	}
	for _, rl := range adj.GetRlimits() {
		got := "unset"
		for _, o := range c.GetRlimits() {
			if o.GetType() == rl.GetType() {
				got = fmt.Sprintf("soft=%d hard=%d", o.GetSoft(), o.GetHard())
			}
		}
		if want := fmt.Sprintf("soft=%d hard=%d", rl.GetSoft(), rl.GetHard()); want != got {
			add("resources.rlimits["+rl.GetType()+"]", want, got)
		}
	}
	return out
}

func quoteOrAbsent(s string, ok bool) string {
	if !ok {
		return "nothing (removed or never set)"
	}
	return strconv.Quote(clip(s))
}

func optInt(v *api.OptionalInt) string {
	if v == nil {
		return "unset"
	}
	return strconv.FormatInt(v.GetValue(), 10)
}

func optInt64(f policy.Field, v *api.OptionalInt64) string {
	if v == nil {
		return "unset"
	}
	return formatValue(f, v.GetValue())
}

func describeMount(m *api.Mount) string {
	if m == nil {
		return "nothing (removed or never set)"
	}
	return fmt.Sprintf("%s %s (%s)", clip(m.GetType()), clipPath(m.GetSource()), clip(strings.Join(m.GetOptions(), ",")))
}

func describeSeccomp(s *api.LinuxSeccomp) string {
	if s == nil {
		return "no profile"
	}
	return fmt.Sprintf("a profile (default action %s, %d syscall rules)", clip(s.GetDefaultAction()), len(s.GetSyscalls()))
}

// checkUnchecked finds changes to the fields no rule or validation
// setting judges (policy.UncheckedFields) by plugins not trusted, unless
// validation.allowFields lists the field.
func (va *validation) checkUnchecked(adj *api.ContainerAdjustment) {
	l := adj.GetLinux()
	mem, cpu := l.GetResources().GetMemory(), l.GetResources().GetCpu()
	o, id := va.owners, va.id
	type set struct {
		field string
		on    bool
		owner func(string) (string, bool)
		what  string
	}
	for _, s := range []set{
		{"args", len(adj.GetArgs()) > 0, o.ArgsOwner, "replaces the container's command line"},
		{"linux.cgroupsPath", l.GetCgroupsPath() != "", o.CgroupsPathOwner, "moves the container to cgroup " + strconv.Quote(clip(l.GetCgroupsPath()))},
		{"linux.ioPriority", l.GetIoPriority() != nil, o.IOPriorityOwner, "sets the I/O priority"},
		{"linux.scheduler", l.GetScheduler() != nil, o.LinuxSchedulerOwner, "sets the scheduling policy " + clip(l.GetScheduler().GetPolicy().String())},
		{"linux.rdt", rdtSet(l.GetRdt()), o.RdtClosIDOwner, "sets RDT (cache and memory bandwidth) parameters"},
		{"linux.memoryPolicy", l.GetMemoryPolicy() != nil, o.MemoryPolicyOwner, "sets the NUMA memory policy"},
		{"linux.resources.cpu.realtimeRuntime", cpu.GetRealtimeRuntime() != nil, o.CPURealtimeRuntimeOwner, "sets the real-time CPU runtime"},
		{"linux.resources.cpu.realtimePeriod", cpu.GetRealtimePeriod() != nil, o.CPURealtimePeriodOwner, "sets the real-time CPU period"},
		{"linux.resources.memory.kernel", mem.GetKernel() != nil, o.MemKernelLimitOwner, "sets the kernel memory limit"},
		{"linux.resources.memory.kernelTcp", mem.GetKernelTcp() != nil, o.MemTCPLimitOwner, "sets the kernel TCP memory limit"},
		{"linux.resources.memory.swappiness", mem.GetSwappiness() != nil, o.MemSwappinessOwner, "sets swappiness"},
		{"linux.resources.memory.disableOomKiller", mem.GetDisableOomKiller() != nil, o.MemDisableOomKillerOwner, "turns the OOM killer off or on"},
		{"linux.resources.memory.useHierarchy", mem.GetUseHierarchy() != nil, o.MemUseHierarchyOwner, "sets memory.use_hierarchy"},
	} {
		if !s.on || va.allowed(s.field) {
			continue
		}
		owner, _ := s.owner(id)
		if owner == "" && s.field == "linux.rdt" {
			owner, _ = o.RdtSchemataOwner(id)
		}
		if owner == va.self && owner != "" {
			continue
		}
		va.check(owner, s.field, s.what+", a field no rule judges", "allowFields")
	}
}

// rdtSet reports whether an RDT adjustment changes anything: the runtime
// hands validators an empty one whatever the plugins did.
func rdtSet(r *api.LinuxRdt) bool {
	return r.GetClosId() != nil || r.GetSchemata() != nil || r.GetEnableMonitoring() != nil || r.GetRemove()
}

func (va *validation) allowed(field string) bool {
	for _, f := range va.v.AllowFields {
		if f == field {
			return true
		}
	}
	return false
}

// unifiedShadows maps the cgroup v2 files that set what a bounded field
// sets: a plugin writing memory.max=max through unified would otherwise
// pass a memory limit max. memory.min is a stronger memory.low (a hard
// guarantee); cpu.weight.nice is cpu.weight by another scale. The
// hugetlb.<size>.max and .rsvd.max files stand for a hugepage bound of
// that size (hugetlbShadow).
var unifiedShadows = map[string]policy.Field{
	"memory.max":      policy.MemoryLimit,
	"memory.low":      policy.MemoryReservation,
	"memory.min":      policy.MemoryReservation,
	"memory.swap.max": policy.MemorySwap,
	"pids.max":        policy.PidsLimit,
	"cpu.max":         policy.CPUQuota,
	"cpu.weight":      policy.CPUShares,
	"cpu.weight.nice": policy.CPUShares,
}

// hugetlbShadow gives the page size whose hugepage bound the cgroup v2
// file k stands for ("hugetlb.2MB.max", "hugetlb.2MB.rsvd.max").
func hugetlbShadow(k string) (string, bool) {
	rest, ok := strings.CutPrefix(k, "hugetlb.")
	if !ok {
		return "", false
	}
	for _, suffix := range []string{".rsvd.max", ".max"} {
		if size, ok := strings.CutSuffix(rest, suffix); ok && size != "" && !strings.Contains(size, ".") {
			return size, true
		}
	}
	return "", false
}

// shadowedBound names the bound of rule r that cgroup v2 file k stands
// for, "" if r bounds nothing k sets.
func shadowedBound(r *policy.Rule, k string) string {
	if f, ok := unifiedShadows[k]; ok {
		if r.Resources.Bounds[f] != nil {
			return f.String()
		}
		return ""
	}
	if size, ok := hugetlbShadow(k); ok {
		for _, h := range r.Resources.Hugepages {
			if h.PageSize == size {
				return "resources.hugepages[" + size + "]"
			}
		}
	}
	return ""
}

// checkUnifiedShadows finds cgroup v2 files set by other plugins that
// stand for a field a matching enforcing rule bounds (unless the rule sets
// that very file to that value, which the fixed point has judged).
func (va *validation) checkUnifiedShadows(p *policy.Policy, pod *api.PodSandbox, c *api.Container, adj *api.ContainerAdjustment) {
	unified := adj.GetLinux().GetResources().GetUnified()
	if len(unified) == 0 {
		return
	}
	subj := policy.Subject{Namespace: pod.GetNamespace(), PodLabels: pod.GetLabels(), Container: c.GetName(),
		Image: imageOf(c), RuntimeHandler: pod.GetRuntimeHandler()}
	for k, v := range unified {
		if _, ok := unifiedShadows[k]; !ok {
			if _, ok := hugetlbShadow(k); !ok {
				continue
			}
		}
		field := "resources.unified[" + k + "]"
		owner := va.fieldOwner(field)
		if owner == va.self && owner != "" {
			continue
		}
		for i := range p.EachCandidate(subj.Namespace) {
			r := p.Rules[i]
			if r.Mode == policy.ModeOff || r.Resources == nil || !r.Matches(&subj) {
				continue
			}
			bound := shadowedBound(r, k)
			if bound == "" || setsUnified(r, k, v) {
				continue
			}
			detail := fmt.Sprintf("sets the cgroup file %s=%s, which bypasses the rule's %s", clip(k), strconv.Quote(clip(v)), bound)
			if owner == "" {
				va.blameConsultedRule(field, r.Name, detail, r.Mode == policy.ModeAudit)
			} else {
				va.ruleFinding(owner, field, r.Name, detail, r.Mode == policy.ModeAudit)
			}
			break
		}
	}
}

func setsUnified(r *policy.Rule, k, v string) bool {
	for _, kv := range r.Resources.Unified {
		if kv.Key == k && kv.Value == v {
			return true
		}
	}
	return false
}
