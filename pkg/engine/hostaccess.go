package engine

// Host access that neither a device node nor a bind mount shows: device
// cgroup allow rules (linux.resources.devices) and filesystems mounted
// directly (sysfs read-write, debugfs, cgroup, overlay of host
// directories, ...). With containerd's default CAP_MKNOD a root container
// can create any node its device cgroup allows, so a rule such as
// "b 8:* rwm" hands it the host's disks without a single device node in
// the spec; a kernel filesystem needs no host path to reach the host.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/policy"
)

// deviceRule is a device cgroup rule as runc reads it from the spec: an
// empty type is "a", a missing (or negative) major or minor is any.
type deviceRule struct {
	allow        bool
	typ          byte  // 'a', 'b' or 'c'
	major, minor int64 // -1: any
	access       string
	r, w, m      bool
}

const anyNumber = -1

func parseDeviceRule(d *api.LinuxDeviceCgroup) deviceRule {
	out := deviceRule{allow: d.GetAllow(), typ: 'a', major: anyNumber, minor: anyNumber, access: d.GetAccess()}
	switch d.GetType() {
	case "b", "c":
		out.typ = d.GetType()[0]
	}
	// Any other type is refused by runc; read it as the widest one.
	if v := d.GetMajor(); v != nil && v.GetValue() >= 0 {
		out.major = v.GetValue()
	}
	if v := d.GetMinor(); v != nil && v.GetValue() >= 0 {
		out.minor = v.GetValue()
	}
	out.r, out.w, out.m = parseAccess(out.access)
	return out
}

// parseAccess reads "rwm"-style access. Anything it does not understand,
// and an empty access (runc refuses it), counts as everything: a rule is
// never read as narrower than it might be.
func parseAccess(s string) (r, w, m bool) {
	if s == "" {
		return true, true, true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 'r':
			r = true
		case 'w':
			w = true
		case 'm':
			m = true
		default:
			return true, true, true
		}
	}
	return r, w, m
}

// String writes the rule the way the cgroup v1 devices.allow file and
// container engines' --device-cgroup-rule do: "b 8:* rwm".
func (d deviceRule) String() string {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	s := string(d.typ) + " " + num(d.major) + ":" + num(d.minor)
	if d.access != "" {
		s += " " + clip(d.access)
	}
	return s
}

// opensDevices reports whether the rule lets a process read or write a
// device. A rule granting only mknod ("m") gives nothing: a node made
// with it cannot be opened.
func (d deviceRule) opensDevices() bool { return d.allow && (d.r || d.w) }

// within reports whether everything d allows, e allows too.
func (d deviceRule) within(e deviceRule) bool {
	if !e.allow {
		return false
	}
	if e.typ != 'a' && e.typ != d.typ {
		return false
	}
	if e.major != anyNumber && e.major != d.major {
		return false
	}
	if e.minor != anyNumber && e.minor != d.minor {
		return false
	}
	return (!d.r || e.r) && (!d.w || e.w) && (!d.m || e.m)
}

// withinRuntimeDefaults reports whether d is within the device cgroup
// allow rules every container gets whatever its spec says: runc's own
// (v1.4.4, libcontainer/specconv AllowedDevices, appended after the
// spec's rules: mknod of anything, /dev/null, zero, full, random, urandom,
// tty, ptmx, the pty slaves and /dev/net/tun) and containerd's default
// Unix devices (oci.WithDefaultUnixDevices, which adds /dev/console). A
// rule within them grants nothing new. containerd's CRI itself puts only
// "deny a *:* rwm" in the spec of an ordinary container.
func (d deviceRule) withinRuntimeDefaults() bool {
	defaults := [...]deviceRule{
		{allow: true, typ: 'c', major: anyNumber, minor: anyNumber, m: true},
		{allow: true, typ: 'b', major: anyNumber, minor: anyNumber, m: true},
		defaultCharDevice(1, 3),           // /dev/null
		defaultCharDevice(1, 5),           // /dev/zero
		defaultCharDevice(1, 7),           // /dev/full
		defaultCharDevice(1, 8),           // /dev/random
		defaultCharDevice(1, 9),           // /dev/urandom
		defaultCharDevice(5, 0),           // /dev/tty
		defaultCharDevice(5, 1),           // /dev/console (containerd)
		defaultCharDevice(5, 2),           // /dev/ptmx
		defaultCharDevice(136, anyNumber), // /dev/pts/*
		defaultCharDevice(10, 200),        // /dev/net/tun (runc)
	}
	for _, e := range defaults {
		if d.within(e) {
			return true
		}
	}
	return false
}

func defaultCharDevice(major, minor int64) deviceRule {
	return deviceRule{allow: true, typ: 'c', major: major, minor: minor, r: true, w: true, m: true}
}

// grantsNode reports whether d allows exactly one device and that is the
// node n: such a rule is the cgroup side of a device node, which the
// device node checks judge.
func (d deviceRule) grantsNode(n *api.LinuxDevice) bool {
	typ := n.GetType()
	if typ == "u" {
		typ = "c" // mknod's unbuffered character device
	}
	return d.typ != 'a' && typ == string(d.typ) &&
		d.major != anyNumber && d.major == n.GetMajor() &&
		d.minor != anyNumber && d.minor == n.GetMinor()
}

func grantsNodeIn(d deviceRule, nodes []*api.LinuxDevice) *api.LinuxDevice {
	for _, n := range nodes {
		if _, removed := n.IsMarkedForRemoval(); !removed && d.grantsNode(n) {
			return n
		}
	}
	return nil
}

// deviceNode is a device node by what runc makes it from: its type
// ('u' read as 'c', as grantsNode does) and numbers.
type deviceNode struct {
	typ          string
	major, minor int64
}

// deviceNodes is a set of device nodes, so that checking a container's
// device cgroup rules against its nodes is linear in both, not their
// product.
type deviceNodes map[deviceNode]struct{}

func deviceNodeSet(nodes []*api.LinuxDevice) deviceNodes {
	set := make(deviceNodes, len(nodes))
	for _, n := range nodes {
		if _, removed := n.IsMarkedForRemoval(); removed {
			continue
		}
		typ := n.GetType()
		if typ == "u" {
			typ = "c"
		}
		set[deviceNode{typ, n.GetMajor(), n.GetMinor()}] = struct{}{}
	}
	return set
}

// granted reports whether d allows exactly one device and the set has
// its node: grantsNodeIn for a set.
func (s deviceNodes) granted(d deviceRule) bool {
	if d.typ == 'a' || d.major == anyNumber || d.minor == anyNumber {
		return false
	}
	_, ok := s[deviceNode{string(d.typ), d.major, d.minor}]
	return ok
}

// allowsAllDevices reports whether the container's device cgroup lets it
// open every device: what containerd gives a privileged container
// (WithAllDevicesAllowed).
func allowsAllDevices(c *api.Container) bool {
	for _, d := range c.GetLinux().GetResources().GetDevices() {
		r := parseDeviceRule(d)
		if r.allow && r.typ == 'a' && r.major == anyNumber && r.minor == anyNumber && r.r && r.w {
			return true
		}
	}
	return false
}

// checkDeviceRules refuses device cgroup allow rules that open devices
// beyond the runtime's defaults and the container's own device nodes.
// allowedDevices names device paths, which a rule does not have, so a rule
// for one major:minor passes when the container has that device node: the
// node is what checkDevices judges by its path, and a node it refuses is
// refused there, once. A wildcard ("a", or "*" for major or minor) never
// passes: no node stands for every device. A privileged container's
// "a *:* rwm" is refused here too, as its host device nodes are.
func (x *decider) checkDeviceRules(r *policy.Rule, c *api.Container) {
	nodes := deviceNodeSet(c.GetLinux().GetDevices())
	for _, d := range c.GetLinux().GetResources().GetDevices() {
		rule := parseDeviceRule(d)
		if !rule.opensDevices() || rule.withinRuntimeDefaults() || nodes.granted(rule) || x.omitFinding(r.Mode) {
			continue
		}
		why := "(no allowedDevices)"
		if len(r.Security.AllowedDevices) > 0 {
			why = "(no allowedDevices matches)"
		}
		x.refuseAt(r.Name, r.Mode, "linux.resources.devices", fmt.Sprintf("devices: device cgroup rule %q allows host devices %s", rule.String(), why))
	}
}

// Mount destinations where the runtime mounts its kernel filesystems.
const (
	procDir   = "/proc"
	sysDir    = "/sys"
	cgroupDir = "/sys/fs/cgroup"
)

// hostFilesystem is a mount that reaches the host: what it is ("sysfs
// read-write", "debugfs") and what that gives the container.
type hostFilesystem struct{ what, why string }

// filesystemHostAccess says whether mounting m, which is not a bind
// mount, gives the container the host. It is an allow list: only
// filesystems that show the container nothing of the host's are harmless,
//   - tmpfs, devpts and mqueue anywhere (memory, the container's own ptys
//     and IPC namespace);
//   - proc at /proc, where the runtime applies its masked and read-only
//     paths (elsewhere it is an unmasked /proc: /proc/sysrq-trigger, ...);
//   - sysfs read-only at /sys, under the runtime's masks;
//   - cgroup and cgroup2 read-only.
//
// Everything else is host access, unknown types included. Overlay is not
// judged here: it is as good as the host directories it names
// (overlayHostPaths).
func filesystemHostAccess(m *api.Mount) (hostFilesystem, bool) {
	dst := cleanPath(m.GetDestination())
	typ := m.GetType()
	switch typ {
	case "tmpfs", "devpts", "mqueue":
		return hostFilesystem{}, false
	case "proc":
		if dst == procDir {
			return hostFilesystem{}, false
		}
		return hostFilesystem{"proc outside /proc", "escapes the runtime's masked and read-only /proc paths (/proc/sysrq-trigger, /proc/kcore)"}, true
	case "sysfs":
		if !readOnly(m.GetOptions()) {
			return hostFilesystem{"sysfs read-write", "exposes the host's kernel, device and firmware settings"}, true
		}
		if dst == sysDir {
			return hostFilesystem{}, false
		}
		return hostFilesystem{"sysfs outside /sys", "escapes the runtime's masks (/sys/firmware, /sys/devices/virtual/powercap)"}, true
	case "cgroup", "cgroup2":
		if readOnly(m.GetOptions()) {
			return hostFilesystem{}, false
		}
		return hostFilesystem{typ + " read-write", "exposes cgroup limits above the container's own (cgroup v1: release_agent runs a program on the host)"}, true
	}
	if why, ok := kernelFilesystem(typ); ok {
		return hostFilesystem{typ, why}, true
	}
	return hostFilesystem{fmt.Sprintf("filesystem type %q", clip(typ)), "is not known to be harmless"}, true
}

// kernelFilesystem says what a well-known dangerous filesystem exposes.
func kernelFilesystem(typ string) (string, bool) {
	switch typ {
	case "debugfs":
		return "exposes the host kernel's debug interface", true
	case "tracefs":
		return "exposes the host kernel's tracing (kprobes, every process's events)", true
	case "securityfs":
		return "exposes the host's security modules (AppArmor policy, IMA)", true
	case "bpf":
		return "exposes the host's pinned BPF programs and maps", true
	case "devtmpfs":
		return "exposes every host device node", true
	case "configfs":
		return "exposes host kernel objects (USB gadgets, storage targets)", true
	case "efivarfs":
		return "exposes the host's UEFI variables", true
	case "pstore":
		return "exposes the host's saved kernel logs", true
	case "binfmt_misc":
		return "registers interpreters for the whole host", true
	case "selinuxfs":
		return "exposes the host's SELinux policy", true
	case "fusectl":
		return "controls the host's FUSE connections", true
	}
	return "", false
}

// overlayWithoutDirs describes an overlay naming no host directory, which
// the kernel would not mount; like any shape not known to be harmless it
// is not let through.
const overlayWithoutDirs = "an overlay naming no host directory (no lowerdir) is not known to be harmless"

// readOnly reports whether mount options end up read-only: the last of
// "ro" and "rw" wins, and neither means read-write.
func readOnly(opts []string) bool {
	ro := false
	for _, o := range opts {
		switch o {
		case "ro":
			ro = true
		case "rw":
			ro = false
		}
	}
	return ro
}

// privilegedWritable reports whether m is the read-write sysfs or cgroup
// filesystem containerd gives a privileged container (WithWriteableSysfs,
// WithWriteableCgroupfs) at its usual place.
func privilegedWritable(m *api.Mount) bool {
	dst := cleanPath(m.GetDestination())
	switch m.GetType() {
	case "sysfs":
		return dst == sysDir
	case "cgroup", "cgroup2":
		return dst == cgroupDir
	}
	return false
}

// overlayPath is a host directory an overlay mount names.
type overlayPath struct {
	option string // lowerdir, upperdir, workdir, ...
	path   string // as written
}

// overlayHostPaths returns the host directories an overlay's options
// name: every layer of lowerdir (colon-separated, "\:" escapes a colon),
// upperdir, workdir, and the appending lowerdir+ and datadir+.
func overlayHostPaths(m *api.Mount) []overlayPath {
	var out []overlayPath
	for _, o := range m.GetOptions() {
		key, val, ok := strings.Cut(o, "=")
		if !ok {
			continue
		}
		switch key {
		case "upperdir", "workdir", "lowerdir+", "datadir+":
			out = append(out, overlayPath{key, val})
		case "lowerdir":
			for _, p := range splitLowerdir(val) {
				out = append(out, overlayPath{key, p})
			}
		}
	}
	return out
}

// splitLowerdir splits lowerdir at unescaped colons, dropping the empty
// element of the "::" that marks data-only layers.
func splitLowerdir(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // the escaped byte is part of the path
		case ':':
			if i > start {
				out = append(out, strings.ReplaceAll(s[start:i], `\:`, ":"))
			}
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, strings.ReplaceAll(s[start:], `\:`, ":"))
	}
	return out
}

// checkFilesystems judges, for a rule with hostPaths, the mounts that are
// not binds (checkHostPaths judges those). A kernel filesystem that
// reaches the host is refused whatever the globs say: they name host
// paths and it has none. An overlay is judged by its host directories,
// exactly as a bind of each would be. The read-write /sys and
// /sys/fs/cgroup of a container whose device cgroup allows every device
// (privileged) are left to devices: such a container has the host
// anyway, and whether a rule admits it is the devices setting's call.
func (x *decider) checkFilesystems(r *policy.Rule) {
	pod, c := x.req.Pod, x.req.Container
	for _, m := range c.GetMounts() {
		if IsBindMount(m) {
			continue
		}
		if m.GetType() == "overlay" {
			where := "hostPaths: mount " + clipPath(m.GetDestination()) + ": "
			paths := overlayHostPaths(m)
			if len(paths) == 0 {
				x.refuseAt(r.Name, r.Mode, "mounts["+m.GetDestination()+"]", where+overlayWithoutDirs)
			}
			for _, p := range paths {
				if msg, bad := x.judgeOverlayPath(r, pod, c, p); bad {
					x.refuseAt(r.Name, r.Mode, "mounts["+m.GetDestination()+"]", where+msg)
				}
			}
			continue
		}
		fs, host := filesystemHostAccess(m)
		if !host {
			continue
		}
		if privilegedWritable(m) && allowsAllDevices(c) {
			x.trace(r.Name, "mounts["+clipPath(m.GetDestination())+"]", "allow",
				m.GetType()+" read-write of a container whose device cgroup allows every device (privileged): left to devices")
			continue
		}
		x.refuseAt(r.Name, r.Mode, "mounts["+m.GetDestination()+"]", "hostPaths: mount "+clipPath(m.GetDestination())+": "+fs.what+" "+fs.why)
	}
}

// judgeOverlayPath applies the rule's host path globs to one directory of
// an overlay, as checkHostPaths does to a bind source.
func (x *decider) judgeOverlayPath(r *policy.Rule, pod *api.PodSandbox, c *api.Container, p overlayPath) (string, bool) {
	s := r.Security
	if !strings.HasPrefix(p.path, "/") {
		return fmt.Sprintf("overlay %s %q is not an absolute host path", p.option, clipPath(p.path)), true
	}
	src := cleanPath(p.path)
	if runtimeOwned(pod, c, src) {
		return "", false
	}
	what := "overlay " + p.option + " host path " + clipPath(src)
	if g, below, ok := deniedHostPath(s.HostPathsDeny, src); ok {
		if below {
			return fmt.Sprintf("%s contains paths denied by %q", what, g), true
		}
		return fmt.Sprintf("%s is denied by %q", what, g), true
	}
	if len(s.HostPathsAllow) > 0 && !allowedHostPath(s, src) {
		return fmt.Sprintf("%s is not in the allowed host paths %s", what, globList(s.HostPathsAllow)), true
	}
	return "", false
}

// validateDeviceRules finds, for denyDevices, the device cgroup allow
// rules other plugins added that open devices the container could not
// open anyway: beyond the runtime's defaults, the container's own allow
// rules and device nodes, and the device nodes of the adjustment (each
// judged itself, by its owner; the runtime adds their rules anyway).
//
// NRI (v0.12.5) records no owner for linux.resources.devices: the
// runtime appends every plugin's rules without claiming the field. Such a
// rule is put on the plugins the runtime consulted for this container,
// less specguard itself (which never sets device rules) and the trusted
// ones; when only those were consulted there is no finding.
func (va *validation) validateDeviceRules(req *api.ValidateContainerAdjustmentRequest) {
	c, adj := req.GetContainer(), req.GetAdjust()
	for _, d := range adj.GetLinux().GetResources().GetDevices() {
		rule := parseDeviceRule(d)
		if !rule.opensDevices() || rule.withinRuntimeDefaults() || withinAny(rule, c.GetLinux().GetResources().GetDevices()) ||
			grantsNodeIn(rule, c.GetLinux().GetDevices()) != nil || grantsNodeIn(rule, adj.GetLinux().GetDevices()) != nil {
			continue
		}
		va.blameConsulted(req.GetPlugins(), deviceRulesField,
			fmt.Sprintf("adds device cgroup rule %q, which allows host devices", rule.String()), "denyDevices")
	}
}

const deviceRulesField = "linux.resources.devices"

func withinAny(d deviceRule, rules []*api.LinuxDeviceCgroup) bool {
	for _, e := range rules {
		if d.within(parseDeviceRule(e)) {
			return true
		}
	}
	return false
}

// blameConsulted records a finding for a change whose owner NRI does not
// record, on the untrusted plugins the runtime consulted other than
// specguard. Without the list of plugins (an older runtime), the owner is
// unknown and the change is a finding.
func (va *validation) blameConsulted(plugins []*api.PluginInstance, field, detail, check string) {
	if len(plugins) == 0 {
		va.check("", field, detail+" (NRI records no owner for "+field+")", check)
		return
	}
	var suspects []string
	for _, p := range plugins {
		name := p.GetIndex() + "-" + p.GetName()
		if name == va.self || trustedPlugin(va.v.TrustedPlugins, name) {
			continue
		}
		suspects = append(suspects, name)
	}
	switch len(suspects) {
	case 0:
		return // only trusted plugins (and specguard) could have made it
	case 1:
		detail += " (NRI records no owner for " + field + "; the only untrusted plugin consulted)"
	default:
		detail += " (NRI records no owner for " + field + "; one of the untrusted plugins consulted)"
	}
	va.findings = append(va.findings, Finding{Plugin: strings.Join(suspects, " or "), Field: field, Message: detail, Check: check})
}

// validateFilesystems finds, for denyHostMounts, the mounts other plugins
// added that are not binds and reach the host (filesystemHostAccess), and
// overlays of host directories that are not this pod's own. A mount
// identical to one the container already had, or to one specguard's
// policy adds, gives nothing new.
func (va *validation) validateFilesystems(req *api.ValidateContainerAdjustmentRequest, own func() *api.ContainerAdjustment) {
	pod, c := req.GetPod(), req.GetContainer()
	for _, m := range req.GetAdjust().GetMounts() {
		if _, removed := m.IsMarkedForRemoval(); removed || IsBindMount(m) {
			continue
		}
		var detail string
		if m.GetType() == "overlay" {
			detail = overlayFinding(pod, c, m)
		} else if fs, host := filesystemHostAccess(m); host {
			detail = "mounts " + fs.what + ", which " + fs.why
		}
		if detail == "" || hasSameMount(c.GetMounts(), m) || sameMount(own(), m) {
			continue
		}
		owner, _ := va.owners.MountOwner(va.id, m.GetDestination())
		va.check(owner, "mounts["+clipPath(m.GetDestination())+"]", detail, "denyHostMounts")
	}
}

// overlayFinding describes the host directories an overlay names that are
// not the kubelet's or containerd's for this pod, or returns "".
func overlayFinding(pod *api.PodSandbox, c *api.Container, m *api.Mount) string {
	paths := overlayHostPaths(m)
	if len(paths) == 0 {
		return "mounts " + overlayWithoutDirs
	}
	var host []string
	for _, p := range paths {
		src := p.path
		if strings.HasPrefix(src, "/") {
			src = cleanPath(src)
			if runtimeOwned(pod, c, src) {
				continue
			}
		}
		host = append(host, clipPath(src)+" ("+p.option+")")
	}
	if len(host) == 0 {
		return ""
	}
	return "mounts an overlay of host paths " + strings.Join(host, ", ")
}

func hasSameMount(ms []*api.Mount, m *api.Mount) bool {
	for _, o := range ms {
		if o.GetDestination() == m.GetDestination() && o.GetType() == m.GetType() &&
			o.GetSource() == m.GetSource() && slices.Equal(o.GetOptions(), m.GetOptions()) {
			return true
		}
	}
	return false
}
