package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/proto"

	"github.com/specguard/specguard/pkg/policy"
)

// Finding is one change by another plugin that the validation section
// forbids.
type Finding struct {
	Plugin string `json:"plugin"` // the owner NRI reports, "<index>-<name>"
	Field  string `json:"field"`  // what it changed: hooks, mounts[/x], devices[/dev/x], ...
	Detail string `json:"detail"`
	Check  string `json:"check"` // the validation setting: denyHooks, denyHostMounts, ...
}

func (f Finding) String() string {
	return fmt.Sprintf("plugin %q %s (%s, validation.%s)", f.Plugin, f.Detail, f.Field, f.Check)
}

// AdjustmentRefused is the error ValidateAdjustment returns in enforce
// mode; it carries every finding.
type AdjustmentRefused struct {
	Pod, Container string
	Findings       []Finding
}

func (e *AdjustmentRefused) Error() string {
	parts := make([]string, len(e.Findings))
	for i, f := range e.Findings {
		parts[i] = f.String()
	}
	return "specguard refused the NRI adjustments to container " + e.Container + " of pod " + e.Pod + ": " +
		strings.Join(parts, "; ")
}

// unknownOwner names a change whose owner the runtime did not report.
const unknownOwner = "<unknown plugin>"

// ValidateAdjustment enforces the policy's validation section on the
// merged adjustment of all plugins. It returns every finding, and an
// *AdjustmentRefused error when the findings refuse the container (enforce
// mode); in audit mode the findings are only returned.
//
// Plugins matching trustedPlugins may do anything. specguard itself is
// trusted for exactly the changes its own policy makes to this container
// (masks and the injected seccomp profile): the request does not say
// which plugin is specguard, so its changes are recognised by content, by
// deciding again on the pristine container. A change identical to what
// the policy prescribes is allowed whoever made it.
func ValidateAdjustment(p *policy.Policy, req *api.ValidateContainerAdjustmentRequest) ([]Finding, error) {
	return ValidateAdjustmentAs(p, req, "")
}

// ValidateAdjustmentAs is ValidateAdjustment for specguard registered as
// self ("<index>-<name>"), which is never blamed for a change NRI records
// no owner for (linux.resources.devices).
func ValidateAdjustmentAs(p *policy.Policy, req *api.ValidateContainerAdjustmentRequest, self string) ([]Finding, error) {
	v := p.Validation
	if v == nil || v.Mode == policy.ModeOff || req == nil {
		return nil, nil
	}
	adj := req.GetAdjust()
	if adj == nil {
		return nil, nil
	}
	c := req.GetContainer()
	id := c.GetId()
	owners := req.GetOwners()
	if owners == nil {
		owners = &api.OwningPlugins{} // its lookups do not tolerate nil
	}
	va := &validation{v: v, owners: owners, id: id, self: self}

	var own *api.ContainerAdjustment
	ownOf := func() *api.ContainerAdjustment {
		if own == nil {
			own = ownSecurityChanges(p, req.GetPod(), c)
		}
		return own
	}

	if v.DenyHooks {
		if h := adj.GetHooks(); hookCount(h) > 0 {
			owner, _ := owners.HooksOwner(id)
			for _, o := range splitOwners(owner) {
				va.check(o, "hooks", "adds OCI hooks ("+describeHooks(h)+")", "denyHooks")
			}
		}
	}
	if v.DenyHostMounts {
		for _, m := range adj.GetMounts() {
			if _, removed := m.IsMarkedForRemoval(); removed || !IsBindMount(m) {
				continue
			}
			if RuntimeOwnedMount(req.GetPod(), c, m) || sameMount(ownOf(), m) {
				continue
			}
			owner, _ := owners.MountOwner(id, m.GetDestination())
			va.check(owner, "mounts["+clipPath(m.GetDestination())+"]", "mounts host path "+clipPath(m.GetSource()), "denyHostMounts")
		}
		va.validateFilesystems(req, ownOf)
	}
	if v.DenyDevices {
		for _, d := range adj.GetLinux().GetDevices() {
			if _, removed := d.IsMarkedForRemoval(); removed {
				continue
			}
			owner, _ := owners.DeviceOwner(id, d.GetPath())
			va.check(owner, "devices["+clip(d.GetPath())+"]",
				fmt.Sprintf("adds device %s (%s %d:%d)", clip(d.GetPath()), d.GetType(), d.GetMajor(), d.GetMinor()), "denyDevices")
		}
		for _, d := range adj.GetCDIDevices() {
			owner, _ := owners.CdiDeviceOwner(id, d.GetName())
			va.check(owner, "cdiDevices["+clip(d.GetName())+"]", "adds CDI device "+clip(d.GetName()), "denyDevices")
		}
		va.validateDeviceRules(req)
	}
	if v.DenySeccomp {
		if sp := adj.GetLinux().GetSeccompPolicy(); sp != nil && !proto.Equal(sp, ownOf().GetLinux().GetSeccompPolicy()) {
			owner, _ := owners.SeccompPolicyOwner(id)
			va.check(owner, "linux.seccompPolicy", fmt.Sprintf("sets a seccomp policy (default action %s, %d syscall rules)",
				sp.GetDefaultAction(), len(sp.GetSyscalls())), "denySeccomp")
		}
	}
	if v.DenyNamespaces {
		for _, ns := range adj.GetLinux().GetNamespaces() {
			typ, removed := ns.IsMarkedForRemoval()
			owner, _ := owners.NamespaceOwner(id, typ)
			what := "replaces the " + typ + " namespace"
			if removed {
				what = "removes the " + typ + " namespace (joins the host's)"
			} else if ns.GetPath() != "" {
				what += " with " + clip(ns.GetPath())
			}
			va.check(owner, "linux.namespaces["+typ+"]", what, "denyNamespaces")
		}
	}
	if len(va.findings) == 0 || v.Mode == policy.ModeAudit {
		return va.findings, nil
	}
	return va.findings, &AdjustmentRefused{Pod: podRef(req.GetPod()), Container: c.GetName(), Findings: va.findings}
}

type validation struct {
	v        *policy.ValidationRules
	owners   *api.OwningPlugins
	id       string
	self     string // specguard's own "<index>-<name>", when known
	findings []Finding
}

// check records a finding unless the owner is trusted.
func (va *validation) check(owner, field, detail, check string) {
	if owner == "" {
		owner = unknownOwner
	} else if trustedPlugin(va.v.TrustedPlugins, owner) {
		return
	}
	va.findings = append(va.findings, Finding{Plugin: owner, Field: field, Detail: detail, Check: check})
}

// trustedPlugin matches an owner ("<index>-<name>") against the trusted
// entries, index and name together.
func trustedPlugin(trusted []policy.TrustedPlugin, owner string) bool {
	for _, t := range trusted {
		if t.Trusts(owner) {
			return true
		}
	}
	return false
}

// splitOwners splits the hooks owner, which NRI accumulates as
// "a,b" when several plugins add hooks.
func splitOwners(s string) []string {
	if s == "" {
		return []string{""}
	}
	return strings.Split(s, ",")
}

func hookCount(h *api.Hooks) int {
	return len(h.GetPrestart()) + len(h.GetCreateRuntime()) + len(h.GetCreateContainer()) +
		len(h.GetStartContainer()) + len(h.GetPoststart()) + len(h.GetPoststop())
}

func describeHooks(h *api.Hooks) string {
	var parts []string
	add := func(kind string, hs []*api.Hook) {
		for _, x := range hs {
			parts = append(parts, kind+" "+clip(x.GetPath()))
		}
	}
	add("prestart", h.GetPrestart())
	add("createRuntime", h.GetCreateRuntime())
	add("createContainer", h.GetCreateContainer())
	add("startContainer", h.GetStartContainer())
	add("poststart", h.GetPoststart())
	add("poststop", h.GetPoststop())
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// ownSecurityChanges is what specguard's policy itself adds to this
// container: the masks and the seccomp profile of the rules that match.
func ownSecurityChanges(p *policy.Policy, pod *api.PodSandbox, c *api.Container) *api.ContainerAdjustment {
	if pod == nil {
		pod = &api.PodSandbox{}
	}
	if c == nil {
		c = &api.Container{}
	}
	adj := &api.ContainerAdjustment{}
	x := &decider{p: p, req: &Request{Pod: pod, Container: c}, d: &Decision{Allowed: true, Adjustment: adj}, adj: adj}
	subj := policy.Subject{Namespace: pod.GetNamespace(), PodLabels: pod.GetLabels(), Container: c.GetName(),
		Image: imageOf(c), RuntimeHandler: pod.GetRuntimeHandler()}
	for i := range p.EachCandidate(subj.Namespace) {
		r := p.Rules[i]
		if r.Security == nil || r.Mode != policy.ModeEnforce || !r.Matches(&subj) {
			continue
		}
		if r.Security.Seccomp == policy.SeccompInject {
			x.checkSeccomp(r, c)
		}
		if len(r.Security.MaskedPaths) > 0 {
			x.maskPaths(r)
		}
	}
	return adj
}

func sameMount(adj *api.ContainerAdjustment, m *api.Mount) bool {
	for _, o := range adj.GetMounts() {
		if o.GetDestination() == m.GetDestination() {
			return proto.Equal(o, m)
		}
	}
	return false
}
