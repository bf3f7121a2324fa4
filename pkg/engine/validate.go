package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/proto"

	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
)

// unknownOwner names a change whose owner the runtime did not report.
const unknownOwner = "<unknown plugin>"

// ValidateAdjustment enforces the policy's validation section on the
// merged adjustment of all plugins. It returns every finding, and a
// *Refusal when the findings refuse the container (enforce mode); in audit
// mode the findings are only returned.
//
// Plugins matching trustedPlugins may do anything. specguard itself is
// trusted for exactly the changes its own policy makes to this container
// (masks and the injected seccomp profile): the request does not say
// which plugin is specguard, so its changes are recognised by content, by
// deciding again on the pristine container. A change identical to what
// the policy prescribes is allowed whoever made it.
func ValidateAdjustment(p *policy.Policy, req *api.ValidateContainerAdjustmentRequest) ([]Finding, error) {
	return ValidateAdjustmentAs(p, req, Validator{})
}

// Validator is what the validation knows of specguard's own connection.
type Validator struct {
	// Self is specguard's "<index>-<name>" as NRI names it. Fields NRI
	// says it owns are its own; it is never blamed for a change NRI records
	// no owner for (linux.resources.devices). Without it the integrity of
	// specguard's own values cannot be told from NRI's owners and is not
	// checked.
	Self string
	// Node is the node's facts, as at CreateContainer.
	Node *Node
}

// ValidateAdjustmentAs is ValidateAdjustment for specguard registered as
// vr.Self.
func ValidateAdjustmentAs(p *policy.Policy, req *api.ValidateContainerAdjustmentRequest, vr Validator) ([]Finding, error) {
	v := p.Validation
	if v == nil || v.Mode == policy.ModeOff || req == nil {
		return nil, nil
	}
	adj := req.GetAdjust()
	if adj == nil {
		return nil, nil
	}
	c := req.GetContainer()
	if c == nil {
		c = &api.Container{}
	}
	pod := req.GetPod()
	if pod == nil {
		pod = &api.PodSandbox{}
	}
	id := c.GetId()
	owners := req.GetOwners()
	if owners == nil {
		owners = &api.OwningPlugins{} // its lookups do not tolerate nil
	}
	va := &validation{v: v, owners: owners, id: id, self: vr.Self, plugins: req.GetPlugins()}

	// What specguard's own CreateContainer gave this container: the same
	// decision again, on the pristine container with the count it used.
	facts := Facts{Restart: restarts.Assignment{Count: va.restartCount(c, adj)}, Node: vr.Node}
	ownDecision := Decide(p, &Request{Pod: pod, Container: c, Facts: facts})
	ownOf := func() *api.ContainerAdjustment { return ownDecision.Adjustment }

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
		netDevs := adj.GetLinux().GetNetDevices()
		names := make([]string, 0, len(netDevs))
		for k := range netDevs {
			if _, removed := api.IsMarkedForRemoval(k); !removed {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		for _, k := range names {
			owner, _ := owners.LinuxNetDeviceOwner(id, k)
			va.check(owner, "linux.netDevices["+clip(k)+"]", fmt.Sprintf("moves host network device %q into the container", clip(k)), "denyDevices")
		}
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
	va.validateFinal(p, pod, c, adj, ownDecision, facts)
	if !va.refuses() || v.Mode == policy.ModeAudit {
		return va.findings, nil
	}
	return va.findings, adjustmentsRefused(podRef(pod), c.GetName(), va.findings)
}

// refuses reports whether a finding refuses in enforce mode.
func (va *validation) refuses() bool {
	for _, f := range va.findings {
		if !f.Audit {
			return true
		}
	}
	return false
}

type validation struct {
	v        *policy.ValidationRules
	owners   *api.OwningPlugins
	id       string
	self     string // specguard's own "<index>-<name>", when known
	plugins  []*api.PluginInstance
	findings []Finding
}

// check records a finding unless the owner is trusted.
func (va *validation) check(owner, field, detail, check string) {
	owner, _ = api.IsMarkedForRemoval(owner) // NRI's "-<plugin>": it removed the field
	if owner == "" {
		owner = unknownOwner
	} else if trustedPlugin(va.v.TrustedPlugins, owner) {
		return
	}
	va.findings = append(va.findings, Finding{Plugin: owner, Field: field, Message: detail, Check: check})
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

func sameMount(adj *api.ContainerAdjustment, m *api.Mount) bool {
	for _, o := range adj.GetMounts() {
		if o.GetDestination() == m.GetDestination() {
			return proto.Equal(o, m)
		}
	}
	return false
}
