package policy

import (
	"fmt"
	"iter"
	"math"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/specguard/specguard/pkg/quantity"
)

// DefaultPodLogsDir is the kubelet's default --pod-logs-dir equivalent.
const DefaultPodLogsDir = "/var/log/pods"

// Policy is a loaded, checked and compiled policy. It is immutable and
// shared by concurrent requests.
type Policy struct {
	Source   string
	Document Document
	// Warnings are what the policy asks for that will not happen, found
	// while loading it; they do not stop it loading. Lines are filled in.
	Warnings      []FieldError
	Mode          Mode
	FailurePolicy FailurePolicy
	Node          Node
	Metadata      MetadataSwitches
	Rules         []*Rule
	Validation    *ValidationRules

	// Rules whose namespace selector is all literals are indexed by
	// namespace; rules whose every pattern starts with a literal character
	// (team-*, batch-?-x) by that first byte; the rest are always
	// candidates.
	byNamespace  map[string][]int32
	byFirstByte  [256][]int32
	anyNamespace []int32
}

// MetadataSwitches are the built-in recomputations, resolved.
type MetadataSwitches struct {
	RestartCount, LogPath, Identity, QOSClass bool
	// IdentityCheck is what a container whose identity labels contradict
	// its sandbox gets: refused (enforce), reported (audit) or nothing (off).
	IdentityCheck Mode
}

// Field names a bounded numeric value a rule can constrain.
type Field uint8

const (
	CPUShares Field = iota
	CPUQuota
	CPUPeriod
	MemoryLimit
	MemoryReservation
	MemorySwap
	PidsLimit
	OOMScoreAdj
	NumFields
)

type fieldSpec struct {
	name     string
	min, max int64
}

var fieldSpecs = [NumFields]fieldSpec{
	CPUShares:         {"resources.cpu.shares", 2, 262144},
	CPUQuota:          {"resources.cpu.quota", 1000, 1 << 50},
	CPUPeriod:         {"resources.cpu.period", 1000, 1000000},
	MemoryLimit:       {"resources.memory.limit", 0, 1 << 62},
	MemoryReservation: {"resources.memory.reservation", 0, 1 << 62},
	MemorySwap:        {"resources.memory.swap", -1, 1 << 62},
	PidsLimit:         {"resources.pids.limit", 0, math.MaxInt32},
	OOMScoreAdj:       {"resources.oomScoreAdj", -1000, 1000},
}

// String is the field's path in the policy and in override annotations.
func (f Field) String() string {
	if f < NumFields {
		return fieldSpecs[f].name
	}
	return "field(" + strconv.Itoa(int(f)) + ")"
}

// FieldByName maps "resources.memory.limit" to its Field.
func FieldByName(name string) (Field, bool) {
	for f := Field(0); f < NumFields; f++ {
		if fieldSpecs[f].name == name {
			return f, true
		}
	}
	return 0, false
}

// IntBounds are a field's compiled bounds.
type IntBounds struct {
	Default, Min, Max, Set             int64
	HasDefault, HasMin, HasMax, HasSet bool
}

// Within reports whether v lies inside min and max.
func (b *IntBounds) Within(v int64) bool {
	return (!b.HasMin || v >= b.Min) && (!b.HasMax || v <= b.Max)
}

// Clamp brings v inside min and max.
func (b *IntBounds) Clamp(v int64) int64 {
	if b.HasMin && v < b.Min {
		return b.Min
	}
	if b.HasMax && v > b.Max {
		return b.Max
	}
	return v
}

// Rule is one compiled rule.
type Rule struct {
	Name  string
	Index int
	Mode  Mode

	namespaces, excludeNamespaces []Glob
	containers, images, handlers  []Glob
	selector                      labels.Selector

	Env               []Template
	AddAnnotations    []Template
	RemoveAnnotations []string
	Resources         *ResourceRules
	Security          *SecurityRules
	Overrides         [NumFields]bool
	HasOverrides      bool
}

// ResourceRules are a rule's compiled resources section.
type ResourceRules struct {
	Bounds       [NumFields]*IntBounds
	CPUs, Mems   string
	Hugepages    []HugepageBounds
	Rlimits      []Rlimit
	BlockIOClass string
	RDTClass     string
	Unified      []KeyValue // sorted by key
	Reject       bool       // onViolation: reject
}

type HugepageBounds struct {
	PageSize string
	IntBounds
}

type KeyValue struct{ Key, Value string }

// SeccompAction is what to do with a container that has no seccomp profile.
type SeccompAction string

const (
	SeccompInject SeccompAction = "inject"
	SeccompReject SeccompAction = "reject"
	SeccompAllow  SeccompAction = "allow"
)

// SecurityRules are a rule's compiled security section.
type SecurityRules struct {
	RunAsNonRoot        bool
	RootInUserNamespace bool // runAsNonRoot admits uid 0 inside a user namespace
	DenyHostNamespaces  bool
	CheckHostPaths      bool
	HostPathsAllow      []Glob
	HostPathsAllowDirs  []Glob // the directories of allow patterns ending in /**, which cover them too
	HostPathsDeny       []Glob
	DenyDevices         bool
	AllowedDevices      []DeviceRule
	CheckSysctls        bool
	SysctlsAllow        []Glob
	Seccomp             SeccompAction
	MaskedPaths         []string // a trailing "/" marks a directory
}

// ValidationRules police the merged adjustments of other plugins.
type ValidationRules struct {
	Mode           Mode
	TrustedPlugins []TrustedPlugin
	DenyHooks      bool
	DenyHostMounts bool
	DenyDevices    bool
	DenySeccomp    bool
	DenyNamespaces bool
	// AllowFields are the UncheckedFields other plugins may change.
	AllowFields []string
}

// UncheckedFields are the fields of NRI's container adjustment that no
// rule and no deny setting judges. With a validation section a plugin
// that is not trusted may change one only when allowFields lists it.
var UncheckedFields = []string{
	"args", "linux.cgroupsPath", "linux.ioPriority", "linux.scheduler", "linux.rdt", "linux.memoryPolicy",
	"linux.resources.cpu.realtimeRuntime", "linux.resources.cpu.realtimePeriod",
	"linux.resources.memory.kernel", "linux.resources.memory.kernelTcp", "linux.resources.memory.swappiness",
	"linux.resources.memory.disableOomKiller", "linux.resources.memory.useHierarchy",
}

// SafeSysctls returns the Kubernetes safe sysctl set, the default allow
// list (a copy: callers cannot change the default).
func SafeSysctls() []string { return append([]string(nil), safeSysctls...) }

var safeSysctls = []string{
	"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
	"net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem",
	"net.ipv4.tcp_wmem",
}

var (
	ruleNameRE = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,251}[A-Za-z0-9])?$`)
	cpusetRE   = regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`)
	pageSizeRE = regexp.MustCompile(`^[1-9][0-9]*[KMG]B$`)
	envNameRE  = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
)

var rlimitTypes = map[string]bool{
	"RLIMIT_AS": true, "RLIMIT_CORE": true, "RLIMIT_CPU": true, "RLIMIT_DATA": true,
	"RLIMIT_FSIZE": true, "RLIMIT_LOCKS": true, "RLIMIT_MEMLOCK": true, "RLIMIT_MSGQUEUE": true,
	"RLIMIT_NICE": true, "RLIMIT_NOFILE": true, "RLIMIT_NPROC": true, "RLIMIT_RSS": true,
	"RLIMIT_RTPRIO": true, "RLIMIT_RTTIME": true, "RLIMIT_SIGPENDING": true, "RLIMIT_STACK": true,
}

// errs collects problems with their paths.
type errs []FieldError

func (e *errs) add(path, format string, args ...any) {
	*e = append(*e, FieldError{Path: path, Reason: fmt.Sprintf(format, args...)})
}

func compile(doc *Document) (*Policy, []FieldError) {
	var e errs
	if doc.APIVersion != APIVersion {
		e.add("apiVersion", "must be %q, got %q", APIVersion, truncate(doc.APIVersion, 60))
	}
	if doc.Kind != Kind {
		e.add("kind", "must be %q, got %q", Kind, truncate(doc.Kind, 60))
	}
	s := &doc.Spec
	p := &Policy{Document: *doc, byNamespace: map[string][]int32{}}
	p.Mode = compileMode(&e, "spec.mode", s.Mode, ModeEnforce)
	switch s.FailurePolicy {
	case "", FailureIgnore:
		p.FailurePolicy = FailureIgnore
	case FailureFail:
		p.FailurePolicy = FailureFail
	default:
		e.add("spec.failurePolicy", "must be ignore or fail, got %q", truncate(string(s.FailurePolicy), 40))
	}
	p.Node = s.Node
	if p.Node.PodLogsDir == "" {
		p.Node.PodLogsDir = DefaultPodLogsDir
	} else if !path.IsAbs(p.Node.PodLogsDir) {
		e.add("spec.node.podLogsDir", "must be an absolute path, got %q", truncate(p.Node.PodLogsDir, 80))
	}
	if p.Node.Name != "" {
		for _, msg := range validation.IsDNS1123Subdomain(p.Node.Name) {
			e.add("spec.node.name", "%s", msg)
		}
	}
	on := func(b *bool) bool { return b == nil || *b }
	p.Metadata = MetadataSwitches{
		RestartCount: on(s.Metadata.RestartCount), LogPath: on(s.Metadata.LogPath),
		Identity: on(s.Metadata.Identity), QOSClass: on(s.Metadata.QOSClass),
	}
	checkDefault := p.Mode
	if !p.Metadata.Identity {
		checkDefault = ModeOff
	}
	p.Metadata.IdentityCheck = compileMode(&e, "spec.metadata.identityCheck", s.Metadata.IdentityCheck, checkDefault)
	if s.Validation != nil {
		p.Validation = compileValidation(&e, s.Validation, p.Mode)
	}
	names := map[string]int{}
	for i := range s.Rules {
		r := compileRule(&e, &s.Rules[i], i, p.Mode)
		if r.Name != "" {
			if j, dup := names[r.Name]; dup {
				e.add(fmt.Sprintf("spec.rules[%d].name", i), "duplicate rule name %q (also spec.rules[%d])", r.Name, j)
			}
			names[r.Name] = i
		}
		p.Rules = append(p.Rules, r)
	}
	if len(e) > 0 {
		return nil, e
	}
	p.index()
	return p, nil
}

func compileMode(e *errs, path string, m Mode, def Mode) Mode {
	switch m {
	case "":
		return def
	case ModeEnforce, ModeAudit, ModeOff:
		return m
	}
	e.add(path, "must be enforce, audit or off, got %q", truncate(string(m), 40))
	return def
}

func compileGlobs(e *errs, path string, patterns []string, isPath bool) []Glob {
	var out []Glob
	for i, pat := range patterns {
		if g, ok := compileGlob(e, fmt.Sprintf("%s[%d]", path, i), pat, isPath); ok {
			out = append(out, g)
		}
	}
	return out
}

func compileGlob(e *errs, path, pat string, isPath bool) (Glob, bool) {
	g, err := CompileGlob(pat, isPath)
	if err != nil {
		e.add(path, "%v", err)
		return g, false
	}
	if isPath && !strings.HasPrefix(pat, "/") && !strings.HasPrefix(pat, "*") {
		e.add(path, "path pattern %q must be absolute", truncate(pat, 80))
		return g, false
	}
	return g, true
}

func compileRule(e *errs, r *RuleSpec, i int, policyMode Mode) *Rule {
	base := fmt.Sprintf("spec.rules[%d]", i)
	out := &Rule{Name: r.Name, Index: i}
	switch {
	case r.Name == "":
		e.add(base+".name", "required")
	case !ruleNameRE.MatchString(r.Name):
		e.add(base+".name", "%q must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit", truncate(r.Name, 60))
	}
	out.Mode = compileMode(e, base+".mode", r.Mode, policyMode)

	m := &r.Match
	out.namespaces = compileGlobs(e, base+".match.namespaces", m.Namespaces, false)
	out.excludeNamespaces = compileGlobs(e, base+".match.excludeNamespaces", m.ExcludeNamespaces, false)
	out.containers = compileGlobs(e, base+".match.containers", m.Containers, false)
	out.images = compileGlobs(e, base+".match.images", m.Images, false)
	out.handlers = compileGlobs(e, base+".match.runtimeHandlers", m.RuntimeHandlers, false)
	if m.PodLabels != nil {
		sel, err := metav1.LabelSelectorAsSelector(m.PodLabels)
		if err != nil {
			e.add(base+".match.podLabels", "%v", err)
		} else {
			out.selector = sel
		}
	}

	envSeen := map[string]bool{}
	for j, ev := range r.Env {
		p := fmt.Sprintf("%s.env[%d]", base, j)
		if !envNameRE.MatchString(ev.Name) {
			e.add(p+".name", "%q is not a valid environment variable name", truncate(ev.Name, 60))
			continue
		}
		if envSeen[ev.Name] {
			e.add(p+".name", "duplicate variable %q", ev.Name)
		}
		envSeen[ev.Name] = true
		t, err := compileTemplate(ev.Name, ev.Value)
		if err != nil {
			e.add(p+".value", "%v", err)
			continue
		}
		t.Field = "env[" + ev.Name + "]"
		out.Env = append(out.Env, t)
	}
	if a := r.Annotations; a != nil {
		keys := make([]string, 0, len(a.Add))
		for k := range a.Add {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := fmt.Sprintf("%s.annotations.add[%q]", base, k)
			if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
				e.add(p, "invalid annotation key: %s", strings.Join(msgs, "; "))
				continue
			}
			t, err := compileTemplate(k, a.Add[k])
			if err != nil {
				e.add(p, "%v", err)
				continue
			}
			t.Field = "annotations[" + k + "]"
			out.AddAnnotations = append(out.AddAnnotations, t)
		}
		for j, k := range a.Remove {
			if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
				e.add(fmt.Sprintf("%s.annotations.remove[%d]", base, j), "invalid annotation key: %s", strings.Join(msgs, "; "))
				continue
			}
			out.RemoveAnnotations = append(out.RemoveAnnotations, k)
		}
	}
	if r.Resources != nil {
		out.Resources = compileResources(e, base+".resources", r.Resources)
	}
	if r.Security != nil {
		out.Security = compileSecurity(e, base+".security", r.Security)
	}
	if r.Overrides != nil {
		for j, name := range r.Overrides.Allow {
			f, ok := FieldByName(name)
			if !ok {
				e.add(fmt.Sprintf("%s.overrides.allow[%d]", base, j), "%q cannot be overridden (allowed: %s)", truncate(name, 60), overridableList())
				continue
			}
			if out.Resources == nil || out.Resources.Bounds[f] == nil {
				e.add(fmt.Sprintf("%s.overrides.allow[%d]", base, j), "%q has no bounds in this rule: an override needs resources.%s with min/max", name, strings.TrimPrefix(name, "resources."))
				continue
			}
			if msg := unboundedOverride(f, out.Resources); msg != "" {
				e.add(fmt.Sprintf("%s.overrides.allow[%d]", base, j), "%q %s", name, msg)
				continue
			}
			out.Overrides[f] = true
			out.HasOverrides = true
		}
	}
	return out
}

// privilegedDown reports whether a lower value of f is the privileged
// direction: a lower oom_score_adj makes the OOM killer spare the container
// (-1000: always), and a shorter CFS period with the same quota is more
// CPUs (the container gets quota/period of them). For every other field
// more is more.
func privilegedDown(f Field) bool {
	return f == OOMScoreAdj || f == CPUPeriod
}

// unboundedOverride says why a rule cannot let annotations choose f, or ""
// when it can: the rule must bound f in its privileged direction, and for
// the period also bound the quota, so that quota.max/period.min bounds the
// CPU count a pod can ask for.
func unboundedOverride(f Field, rr *ResourceRules) string {
	b := rr.Bounds[f]
	switch {
	case f == OOMScoreAdj && !b.HasMin:
		return "needs a min in this rule: lower is the privileged direction (-1000 exempts the container from the OOM killer), so an annotation could take it down without bound"
	case f == CPUPeriod && !b.HasMin:
		return "needs a min in this rule: a container gets quota/period CPUs, so a shorter period is more CPUs (period 1000 with quota 100000 is 100) and an annotation could raise them without bound"
	case f == CPUPeriod && !quotaBounded(rr.Bounds[CPUQuota]):
		return "needs resources.cpu.quota with a max or set in this rule: a container gets quota/period CPUs, so a shorter period multiplies whatever quota it has; with both the CPU count is at most quota.max/period.min"
	case !privilegedDown(f) && !b.HasMax:
		return "needs a max in this rule so an annotation cannot lift it without bound"
	}
	return ""
}

// quotaBounded reports whether a rule's quota bounds leave every container
// a quota no larger than a known one: a max (an unset or unlimited quota is
// brought to it) or a set (a quota in the policy is at least 1000, a limit).
func quotaBounded(b *IntBounds) bool {
	return b != nil && (b.HasMax || b.HasSet)
}

func overridableList() string {
	var names []string
	for f := Field(0); f < NumFields; f++ {
		names = append(names, f.String())
	}
	return strings.Join(names, ", ")
}

func parseValue(e *errs, path string, v *Value, f fieldSpec) (int64, bool) {
	if v == nil {
		return 0, false
	}
	s := strings.TrimSpace(string(*v))
	if err := quantity.CheckSize(s); err != nil {
		e.add(path, "%v", truncate(err.Error(), 80))
		return 0, false
	}
	q, err := resource.ParseQuantity(s) // bounded just above
	if err != nil {
		e.add(path, "%q is not a number or quantity", truncate(s, 40))
		return 0, false
	}
	n, ok := q.AsInt64()
	if !ok {
		e.add(path, "%q is not a whole number", truncate(s, 40))
		return 0, false
	}
	if n < f.min || n > f.max {
		e.add(path, "%s is out of range [%d, %d]", s, f.min, f.max)
		return 0, false
	}
	return n, true
}

func compileBounds(e *errs, path string, b *Bounds, f fieldSpec) *IntBounds {
	if b == nil {
		return nil
	}
	out := &IntBounds{}
	out.Default, out.HasDefault = parseValue(e, path+".default", b.Default, f)
	out.Min, out.HasMin = parseValue(e, path+".min", b.Min, f)
	out.Max, out.HasMax = parseValue(e, path+".max", b.Max, f)
	out.Set, out.HasSet = parseValue(e, path+".set", b.Set, f)
	if out.HasMin && out.HasMax && out.Min > out.Max {
		e.add(path+".min", "min %s is above max %s", *b.Min, *b.Max)
	}
	if out.HasDefault && !out.Within(out.Default) {
		e.add(path+".default", "default %s is outside min/max", *b.Default)
	}
	if out.HasSet && !out.Within(out.Set) {
		e.add(path+".set", "set %s is outside min/max", *b.Set)
	}
	if out.HasSet && out.HasDefault {
		e.add(path+".default", "default has no effect next to set; remove one")
	}
	if !out.HasDefault && !out.HasMin && !out.HasMax && !out.HasSet && b.Default == nil && b.Min == nil && b.Max == nil && b.Set == nil {
		e.add(path, "empty bounds: give default, min, max or set")
	}
	return out
}

func compileResources(e *errs, base string, r *Resources) *ResourceRules {
	out := &ResourceRules{}
	bound := func(f Field, b *Bounds) {
		path := base + strings.TrimPrefix(f.String(), "resources")
		out.Bounds[f] = compileBounds(e, path, b, fieldSpecs[f])
		if ib := out.Bounds[f]; ib != nil && ib.HasMax {
			// A value the runtime takes as "no limit" cannot bound, nor be
			// what a bounded field defaults to.
			for _, v := range []struct {
				name string
				val  int64
				has  bool
				text *Value
			}{{"max", ib.Max, ib.HasMax, b.Max}, {"default", ib.Default, ib.HasDefault, b.Default}, {"set", ib.Set, ib.HasSet, b.Set}} {
				if v.has && Unlimited(f, v.val) {
					e.add(path+"."+v.name, "%s means no limit to the runtime; a bounded %s needs a positive value", *v.text, f.String())
				}
			}
		}
	}
	if c := r.CPU; c != nil {
		bound(CPUShares, c.Shares)
		bound(CPUQuota, c.Quota)
		bound(CPUPeriod, c.Period)
		if c.CPUs != "" && !cpusetRE.MatchString(c.CPUs) {
			e.add(base+".cpu.cpus", "%q is not a cpuset like 0-3,6", truncate(c.CPUs, 40))
		}
		if c.Mems != "" && !cpusetRE.MatchString(c.Mems) {
			e.add(base+".cpu.mems", "%q is not a node set like 0-1", truncate(c.Mems, 40))
		}
		out.CPUs, out.Mems = c.CPUs, c.Mems
	}
	if m := r.Memory; m != nil {
		bound(MemoryLimit, m.Limit)
		bound(MemoryReservation, m.Reservation)
		bound(MemorySwap, m.Swap)
		// memory.swap is memory plus swap: when the limit moves, swap follows
		// it up (runc refuses swap below the limit), past a lower swap max.
		lim, sw := out.Bounds[MemoryLimit], out.Bounds[MemorySwap]
		if lim != nil && sw != nil && sw.HasMax && sw.Max >= 0 {
			top, has := lim.Max, lim.HasMax
			if lim.HasSet {
				top, has = lim.Set, true
			}
			if has && sw.Max < top {
				e.add(base+".memory.swap.max", "max %s is below the memory limit's %s: memory.swap is memory plus swap and cannot be below the limit",
					*m.Swap.Max, resource.NewQuantity(top, resource.BinarySI))
			}
		}
	}
	if r.Pids != nil {
		bound(PidsLimit, r.Pids.Limit)
	}
	bound(OOMScoreAdj, r.OOMScoreAdj)
	seenPage := map[string]bool{}
	for i, h := range r.Hugepages {
		p := fmt.Sprintf("%s.hugepages[%d]", base, i)
		if !pageSizeRE.MatchString(h.PageSize) {
			e.add(p+".pageSize", "%q is not a page size like 2MB or 1GB", truncate(h.PageSize, 20))
			continue
		}
		if seenPage[h.PageSize] {
			e.add(p+".pageSize", "duplicate page size %s", h.PageSize)
		}
		seenPage[h.PageSize] = true
		b := compileBounds(e, p+".limit", &h.Limit, fieldSpec{min: 0, max: 1 << 62})
		if b != nil {
			out.Hugepages = append(out.Hugepages, HugepageBounds{PageSize: h.PageSize, IntBounds: *b})
		}
	}
	seenRl := map[string]bool{}
	for i, rl := range r.Rlimits {
		p := fmt.Sprintf("%s.rlimits[%d]", base, i)
		if !rlimitTypes[rl.Type] {
			e.add(p+".type", "%q is not an RLIMIT_* type", truncate(rl.Type, 30))
			continue
		}
		if seenRl[rl.Type] {
			e.add(p+".type", "duplicate %s", rl.Type)
		}
		seenRl[rl.Type] = true
		if rl.Soft > rl.Hard {
			e.add(p+".soft", "soft %d is above hard %d", rl.Soft, rl.Hard)
			continue
		}
		out.Rlimits = append(out.Rlimits, rl)
	}
	for _, cls := range []struct{ path, v string }{{".blockioClass", r.BlockIO}, {".rdtClass", r.RDT}} {
		if strings.ContainsAny(cls.v, "\x00/\n") || len(cls.v) > 128 {
			e.add(base+cls.path, "%q is not a class name", truncate(cls.v, 40))
		}
	}
	out.BlockIOClass, out.RDTClass = r.BlockIO, r.RDT
	for k, v := range r.Unified {
		if !strings.Contains(k, ".") || strings.ContainsAny(k, "/\x00 ") || strings.ContainsRune(v, 0) {
			e.add(fmt.Sprintf("%s.unified[%q]", base, k), "not a cgroup v2 file name and value")
			continue
		}
		out.Unified = append(out.Unified, KeyValue{k, v})
	}
	sort.Slice(out.Unified, func(i, j int) bool { return out.Unified[i].Key < out.Unified[j].Key })
	switch r.OnViolation {
	case "", "clamp":
	case "reject":
		out.Reject = true
	default:
		e.add(base+".onViolation", "must be clamp or reject, got %q", truncate(r.OnViolation, 20))
	}
	return out
}

func compileSecurity(e *errs, base string, s *Security) *SecurityRules {
	out := &SecurityRules{RunAsNonRoot: s.RunAsNonRoot}
	switch s.RootInUserNamespace {
	case "", "deny":
	case "allow":
		out.RootInUserNamespace = true
	default:
		e.add(base+".rootInUserNamespace", "must be allow or deny, got %q", truncate(s.RootInUserNamespace, 20))
	}
	switch s.HostNamespaces {
	case "", "allow":
	case "deny":
		out.DenyHostNamespaces = true
	default:
		e.add(base+".hostNamespaces", "must be deny or allow, got %q", truncate(s.HostNamespaces, 20))
	}
	if s.HostPaths != nil {
		out.CheckHostPaths = true
		out.HostPathsAllow = compileGlobs(e, base+".hostPaths.allow", s.HostPaths.Allow, true)
		for _, g := range out.HostPathsAllow {
			if dir, ok := strings.CutSuffix(g.String(), "/**"); ok && dir != "" {
				if dg, err := CompileGlob(dir, true); err == nil {
					out.HostPathsAllowDirs = append(out.HostPathsAllowDirs, dg)
				}
			}
		}
		out.HostPathsDeny = compileGlobs(e, base+".hostPaths.deny", s.HostPaths.Deny, true)
	}
	switch s.Devices {
	case "", "allow":
	case "deny":
		out.DenyDevices = true
	default:
		e.add(base+".devices", "must be deny or allow, got %q", truncate(s.Devices, 20))
	}
	for i := range s.AllowedDevices {
		if r, ok := compileDevice(e, fmt.Sprintf("%s.allowedDevices[%d]", base, i), &s.AllowedDevices[i]); ok {
			out.AllowedDevices = append(out.AllowedDevices, r)
		}
	}
	if s.Sysctls != nil {
		out.CheckSysctls = true
		allow := s.Sysctls.Allow
		if len(allow) == 0 {
			allow = safeSysctls
		}
		out.SysctlsAllow = compileGlobs(e, base+".sysctls.allow", allow, false)
	}
	if s.Seccomp != nil {
		switch a := SeccompAction(s.Seccomp.Unconfined); a {
		case SeccompInject, SeccompReject, SeccompAllow:
			out.Seccomp = a
		default:
			e.add(base+".seccomp.unconfined", "must be inject, reject or allow, got %q", truncate(string(a), 20))
		}
	}
	for i, mp := range s.MaskedPaths {
		// A trailing "/" says the path is a directory (masked with an empty
		// tmpfs); the engine cannot look into the image to find out.
		p := strings.TrimSuffix(mp, "/")
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
			e.add(fmt.Sprintf("%s.maskedPaths[%d]", base, i), "%q must be a clean absolute path below /, with a trailing / for a directory", truncate(mp, 80))
			continue
		}
		out.MaskedPaths = append(out.MaskedPaths, mp)
	}
	return out
}

// DeviceRule is a compiled allowedDevices entry: the device nodes it
// admits are those at a path its glob matches with its type and numbers.
type DeviceRule struct {
	Path         Glob
	Type         byte // 'c', 'b' or 'p' ('u', unbuffered, is compiled as 'c')
	Major, Minor int64
	AnyMinor     bool
}

// Admits reports whether a device node at path (cleaned) of type typ (c,
// u, b or p) with these numbers is one the rule allows.
func (r *DeviceRule) Admits(path, typ string, major, minor int64) bool {
	if len(typ) != 1 || deviceType(typ[0]) != r.Type || !r.Path.Match(path) {
		return false
	}
	return r.Type == 'p' || (major == r.Major && (r.AnyMinor || minor == r.Minor))
}

// String is the entry as messages quote it: "/dev/fuse (c 10:229)",
// "/dev/nvidia* (c 195:*)".
func (r *DeviceRule) String() string {
	switch {
	case r.Type == 'p':
		return r.Path.String() + " (p)"
	case r.AnyMinor:
		return fmt.Sprintf("%s (%c %d:*)", r.Path, r.Type, r.Major)
	}
	return fmt.Sprintf("%s (%c %d:%d)", r.Path, r.Type, r.Major, r.Minor)
}

// deviceType folds 'u' (an unbuffered character device) into 'c': the
// kernel makes the same node for both.
func deviceType(t byte) byte {
	if t == 'u' {
		return 'c'
	}
	return t
}

// WellKnownDevice returns the numbers of a character device the kernel
// numbers statically (Documentation/admin-guide/devices.txt; the misc
// minors of include/linux/miscdevice.h), so that a bare path in
// allowedDevices says which device it admits.
func WellKnownDevice(path string) (major, minor int64, ok bool) {
	switch path {
	case "/dev/null":
		return 1, 3, true
	case "/dev/zero":
		return 1, 5, true
	case "/dev/full":
		return 1, 7, true
	case "/dev/random":
		return 1, 8, true
	case "/dev/urandom":
		return 1, 9, true
	case "/dev/tty":
		return 5, 0, true
	case "/dev/console":
		return 5, 1, true
	case "/dev/ptmx":
		return 5, 2, true
	case "/dev/net/tun":
		return 10, 200, true
	case "/dev/fuse":
		return 10, 229, true
	case "/dev/kvm":
		return 10, 232, true
	case "/dev/vhost-net":
		return 10, 238, true
	case "/dev/vhost-vsock":
		return 10, 241, true
	}
	return 0, 0, false
}

func compileDevice(e *errs, p string, d *Device) (DeviceRule, bool) {
	if d.bare {
		g, ok := compileGlob(e, p, d.Path, true)
		if !ok {
			return DeviceRule{}, false
		}
		major, minor, ok := WellKnownDevice(d.Path)
		if !ok {
			e.add(p, "%q is not a well-known device: a device node is what its type and numbers say, whatever its path, so give them: {path: %q, type: c, major: N} (minor: N, or none for any)",
				truncate(d.Path, 80), truncate(d.Path, 80))
			return DeviceRule{}, false
		}
		return DeviceRule{Path: g, Type: 'c', Major: major, Minor: minor}, true
	}
	g, ok := compileGlob(e, p+".path", d.Path, true)
	r := DeviceRule{Path: g}
	switch d.Type {
	case "":
		e.add(p+".type", "required: c, b, u or p (what the device is, not only where)")
		return r, false
	case "c", "b", "u", "p":
		r.Type = deviceType(d.Type[0])
	default:
		e.add(p+".type", "must be c, b, u or p, got %q", truncate(d.Type, 10))
		return r, false
	}
	for _, n := range []struct {
		name string
		v    *int64
	}{{"major", d.Major}, {"minor", d.Minor}} {
		switch {
		case n.v == nil:
		case r.Type == 'p':
			e.add(p+"."+n.name, "a FIFO (p) has no device numbers")
			ok = false
		case *n.v < 0:
			e.add(p+"."+n.name, "%d is negative", *n.v)
			ok = false
		}
	}
	if r.Type != 'p' {
		if d.Major == nil {
			e.add(p+".major", "required for a %s device: without it any device could be admitted under this name", d.Type)
			return r, false
		}
		r.Major = *d.Major
		if d.Minor == nil {
			r.AnyMinor = true
		} else {
			r.Minor = *d.Minor
		}
	}
	return r, ok
}

func compileValidation(e *errs, v *Validation, def Mode) *ValidationRules {
	return &ValidationRules{
		Mode:           compileMode(e, "spec.validation.mode", v.Mode, def),
		TrustedPlugins: compileTrustedPlugins(e, v.TrustedPlugins),
		DenyHooks:      v.DenyHooks, DenyHostMounts: v.DenyHostMounts, DenyDevices: v.DenyDevices,
		DenySeccomp: v.DenySeccomp, DenyNamespaces: v.DenyNamespaces,
		AllowFields: compileAllowFields(e, v.AllowFields),
	}
}

func compileAllowFields(e *errs, fields []string) []string {
	var out []string
	for i, f := range fields {
		if !slices.Contains(UncheckedFields, f) {
			e.add(fmt.Sprintf("spec.validation.allowFields[%d]", i), "%q is not a field only allowFields decides; one of: %s",
				truncate(f, 80), strings.Join(UncheckedFields, ", "))
			continue
		}
		out = append(out, f)
	}
	return out
}

// TrustedPlugin is a trustedPlugins entry: the index NRI reports, exactly,
// and a glob over the name registered with it.
type TrustedPlugin struct {
	Index string // two digits
	Name  Glob
}

// Trusts reports whether the plugin NRI names owner ("<index>-<name>") is
// this entry. Index and name are taken together: a plugin that registers
// another index under a look-alike name (even one that starts with this
// entry's index) is not trusted.
func (t TrustedPlugin) Trusts(owner string) bool {
	idx, name, ok := SplitPluginID(owner)
	return ok && idx == t.Index && t.Name.Match(name)
}

// SplitPluginID splits "<index>-<name>" as NRI names a plugin: a two-digit
// index, a dash and the name.
func SplitPluginID(id string) (index, name string, ok bool) {
	if len(id) < 4 || id[2] != '-' || !isDigit(id[0]) || !isDigit(id[1]) {
		return "", "", false
	}
	return id[:2], id[3:], true
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// compileTrustedPlugins reads "NN-<name glob>" entries. An entry without
// the index is refused rather than matched against names alone: NRI does
// not authenticate names, and a name-only entry would trust a look-alike
// at any index (as would an index written as a glob).
func compileTrustedPlugins(e *errs, entries []string) []TrustedPlugin {
	var out []TrustedPlugin
	for i, s := range entries {
		path := fmt.Sprintf("spec.validation.trustedPlugins[%d]", i)
		idx, name, ok := SplitPluginID(s)
		if !ok {
			e.add(path, "%q does not start with the plugin's two-digit index: write \"<index>-<name>\" as NRI names plugins (e.g. \"10-dra-driver\"); a name alone would trust a plugin that registers that name at any index", truncate(s, 80))
			continue
		}
		if g, ok := compileGlob(e, path, name, false); ok {
			out = append(out, TrustedPlugin{Index: idx, Name: g})
		}
	}
	return out
}

// index builds the namespace index used by Candidates.
func (p *Policy) index() {
	for i, r := range p.Rules {
		if r.Mode == ModeOff {
			continue
		}
		literal := len(r.namespaces) > 0
		for _, g := range r.namespaces {
			if _, ok := g.Literal(); !ok {
				literal = false
			}
		}
		if !literal {
			p.indexByFirstByte(int32(i), r.namespaces)
			continue
		}
		for _, g := range r.namespaces {
			ns, _ := g.Literal()
			if l := p.byNamespace[ns]; len(l) == 0 || l[len(l)-1] != int32(i) {
				p.byNamespace[ns] = append(l, int32(i))
			}
		}
	}
}

// indexByFirstByte files rule i under the first byte of each namespace
// pattern, or under any namespace when a pattern (or the absent
// selector) can match a namespace starting with any byte.
func (p *Policy) indexByFirstByte(i int32, namespaces []Glob) {
	for _, g := range namespaces {
		if pre := g.pattern[:strings.IndexAny(g.pattern+"*", "*?")]; pre == "" {
			p.anyNamespace = append(p.anyNamespace, i)
			return
		}
	}
	if len(namespaces) == 0 {
		p.anyNamespace = append(p.anyNamespace, i)
		return
	}
	for _, g := range namespaces {
		b := g.pattern[0]
		if l := p.byFirstByte[b]; len(l) == 0 || l[len(l)-1] != i {
			p.byFirstByte[b] = append(l, i)
		}
	}
}

// Candidates appends to buf, in rule order, the indexes of the rules that
// may match a container in namespace: the caller still calls Matches.
func (p *Policy) Candidates(namespace string, buf []int32) []int32 {
	for i := range p.EachCandidate(namespace) {
		buf = append(buf, i)
	}
	return buf
}

// EachCandidate yields what Candidates returns without a buffer, so that
// the request path allocates nothing for rules that do not match, however
// many the policy has.
func (p *Policy) EachCandidate(namespace string) iter.Seq[int32] {
	return func(yield func(int32) bool) {
		// Three sorted lists with no rule in two of them: merge in order.
		a, b, c := p.byNamespace[namespace], p.anyNamespace, []int32(nil)
		if namespace != "" {
			c = p.byFirstByte[namespace[0]]
		}
		for len(a) > 0 || len(b) > 0 || len(c) > 0 {
			l := &a
			if len(*l) == 0 || (len(b) > 0 && b[0] < (*l)[0]) {
				l = &b
			}
			if len(*l) == 0 || (len(c) > 0 && c[0] < (*l)[0]) {
				l = &c
			}
			i := (*l)[0]
			*l = (*l)[1:]
			if !yield(i) {
				return
			}
		}
	}
}

// Subject is what a rule's selector looks at.
type Subject struct {
	Namespace      string
	PodLabels      map[string]string
	Container      string
	Image          string
	RuntimeHandler string
}

// Matches reports whether every selector the rule gives matches s.
func (r *Rule) Matches(s *Subject) bool {
	if r.Mode == ModeOff {
		return false
	}
	if len(r.namespaces) > 0 && !anyMatch(r.namespaces, s.Namespace) {
		return false
	}
	if anyMatch(r.excludeNamespaces, s.Namespace) {
		return false
	}
	if len(r.containers) > 0 && !anyMatch(r.containers, s.Container) {
		return false
	}
	if len(r.images) > 0 && !anyMatch(r.images, s.Image) {
		return false
	}
	if len(r.handlers) > 0 && !anyMatch(r.handlers, s.RuntimeHandler) {
		return false
	}
	if r.selector != nil && !r.selector.Matches(labels.Set(s.PodLabels)) {
		return false
	}
	return true
}

func anyMatch(gs []Glob, s string) bool {
	for i := range gs {
		if gs[i].Match(s) {
			return true
		}
	}
	return false
}
