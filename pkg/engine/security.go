package engine

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/policy"
)

// applySecurity runs a rule's security checks in a fixed order. Each check
// that fails calls refuse, which refuses in enforce mode and reports in
// audit mode; the changes (seccomp, masks) are made only in enforce mode.
func (x *decider) applySecurity(r *policy.Rule) {
	s := r.Security
	c := x.req.Container
	if s.RunAsNonRoot {
		x.checkNonRoot(r, c)
	}
	if s.DenyHostNamespaces {
		if shared := HostNamespaces(x.req.Pod, c); len(shared) > 0 {
			x.refuseAt(r.Name, r.Mode, "linux.namespaces", "hostNamespaces: container shares the host's "+describeHostNamespaces(shared))
		}
	}
	if s.CheckHostPaths {
		x.checkHostPaths(r)
		x.checkFilesystems(r)
	}
	if s.DenyDevices {
		// The device rules first: "a *:* rwm" says in one finding what a
		// privileged container's hundred device nodes would, and the
		// findings kept are bounded (MaxFindings).
		x.checkDeviceRules(r, c)
		x.checkDevices(r, c)
		x.checkNetDevices(r, c)
	}
	if s.CheckSysctls {
		x.checkSysctls(r, c)
	}
	if s.Seccomp != "" && s.Seccomp != policy.SeccompAllow {
		x.checkSeccomp(r, c)
	}
	if len(s.MaskedPaths) > 0 {
		x.maskPaths(r)
	}
}

// checkNonRoot judges the uid the process will run as, which containerd
// resolved from runAsUser or the image's USER before NRI sees it. The
// kubelet's own wording is kept so that the message reads like the
// kubelet's refusal it stands in for.
func (x *decider) checkNonRoot(r *policy.Rule, c *api.Container) {
	u := c.GetUser()
	if u == nil {
		x.refuse(r.Name, r.Mode, fmt.Sprintf("container has runAsNonRoot and the runtime did not report its user, cannot verify user is non-root (pod: %q, container: %s)", podRef(x.req.Pod), c.GetName()))
		return
	}
	if u.GetUid() != 0 {
		return
	}
	inUserNS, hostUserNS := userNamespace(x.req.Pod, c)
	if inUserNS && r.Security.RootInUserNamespace {
		x.trace(r.Name, "user", "allow", "uid 0 inside the container's user namespace (rootInUserNamespace: allow)")
		return
	}
	msg := fmt.Sprintf("container has runAsNonRoot and image will run as root (pod: %q, container: %s): process uid 0 breaks non-root policy", podRef(x.req.Pod), c.GetName())
	switch {
	case inUserNS:
		msg += " (uid 0 inside the container's user namespace; rootInUserNamespace: allow admits it)"
	case hostUserNS != "":
		msg += " (it joins the host's user namespace (" + clipPath(hostUserNS) + "), so uid 0 is the host's root)"
	}
	x.refuse(r.Name, r.Mode, msg)
}

// userNamespace reports whether the container runs in a user namespace of
// its own or its pod's, not the host's; when it joins the host's by path,
// host is that path. A user namespace joined by a path that leads to the
// host's (PID 1's, runc's own, or the sandbox's when the sandbox has none)
// is no namespace at all as far as uid 0 is concerned.
func userNamespace(pod *api.PodSandbox, c *api.Container) (own bool, host string) {
	for _, ns := range c.GetLinux().GetNamespaces() {
		if ns.GetType() != "user" {
			continue
		}
		if joinsHostNamespace(pod, "user", ns.GetPath()) {
			return false, ns.GetPath()
		}
		own = true
	}
	return own, ""
}

// HostNamespace is a namespace a container shares with the host.
type HostNamespace struct {
	Type  string // network, pid, ipc
	Field string // the Pod field that asks for it: hostNetwork, hostPID, hostIPC
}

var hostNamespaceTypes = [...]HostNamespace{
	{"network", "hostNetwork"}, {"pid", "hostPID"}, {"ipc", "hostIPC"},
}

// HostNamespaces returns the network, PID and IPC namespaces the container
// shares with the host. In the OCI spec a namespace type missing from the
// list is the runtime's own, the host's. containerd's CRI does not leave it
// out for a hostNetwork/hostPID/hostIPC pod, though: it points every
// container at its sandbox's namespaces (/proc/<sandbox pid>/ns/<type>),
// and it is the sandbox that has none of its own. A namespace joined by
// path is judged by joinsHostNamespace; one without a path is a new one,
// the container's own.
func HostNamespaces(pod *api.PodSandbox, c *api.Container) []HostNamespace {
	var out []HostNamespace
	for _, h := range hostNamespaceTypes {
		listed, host := false, false
		for _, ns := range c.GetLinux().GetNamespaces() {
			if ns.GetType() == h.Type {
				listed = true
				host = host || joinsHostNamespace(pod, h.Type, ns.GetPath())
			}
		}
		if !listed || host {
			out = append(out, h)
		}
	}
	return out
}

// joinsHostNamespace reports whether joining the namespace of type typ at
// p joins the host's rather than the pod's. runc opens p from the host's
// mount and PID namespaces, so p is judged cleaned, as what it opens:
//   - "" is a new namespace, the container's own;
//   - a relative path is resolved against runc's working directory: not a
//     namespace of the pod's, so the host's;
//   - under /proc, only <pid>/ns/<name> or <pid>/task/<tid>/ns/<name> of a
//     pod process is the pod's (podProcessNamespace); PID 1's, self's and
//     thread-self's (runc's own), and anything else there are the host's;
//   - any path is the host's when the sandbox lists namespaces but not
//     this type: the sandbox then runs in the host's, and containerd
//     points the container at the sandbox's.
func joinsHostNamespace(pod *api.PodSandbox, typ, p string) bool {
	if p == "" {
		return false
	}
	if !path.IsAbs(p) {
		return true
	}
	if rest, ok := strings.CutPrefix(cleanPath(p), "/proc/"); ok && !podProcessNamespace(pod, typ, rest) {
		return true
	}
	podNS := pod.GetLinux().GetNamespaces()
	return len(podNS) > 0 && !podHasNamespace(podNS, typ)
}

// podProcessNamespace reports whether rest, a cleaned path below /proc,
// names a namespace of one of the pod's processes: <pid>/ns/<name> or
// <pid>/task/<tid>/ns/<name> with pid a process ID other than 1 (procfs
// takes no sign or leading zero). containerd joins the network, IPC, UTS
// and user namespaces through the sandbox's PID, so when NRI reports that
// PID another is not the pod's; a PID namespace may also be a target
// container's (kubectl debug --target), joined through that container's
// PID, which NRI does not report.
func podProcessNamespace(pod *api.PodSandbox, typ, rest string) bool {
	pid, rest, _ := strings.Cut(rest, "/")
	if task, ok := strings.CutPrefix(rest, "task/"); ok {
		tid, after, _ := strings.Cut(task, "/")
		if !isPID(tid) {
			return false
		}
		rest = after
	}
	name, ok := strings.CutPrefix(rest, "ns/")
	if !ok || name == "" || strings.Contains(name, "/") || !isPID(pid) || pid == "1" {
		return false
	}
	if sp := pod.GetPid(); sp != 0 && typ != "pid" && pid != strconv.FormatUint(uint64(sp), 10) {
		return false
	}
	return true
}

// isPID reports whether s is a process ID as procfs names it: decimal
// digits without a leading zero.
func isPID(s string) bool {
	if s == "" || s[0] == '0' || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func podHasNamespace(nss []*api.LinuxNamespace, typ string) bool {
	for _, ns := range nss {
		if ns.GetType() == typ {
			return true
		}
	}
	return false
}

func describeHostNamespaces(hs []HostNamespace) string {
	names := make([]string, len(hs))
	fields := make([]string, len(hs))
	for i, h := range hs {
		names[i], fields[i] = h.Type, h.Field
	}
	noun := "namespace"
	if len(hs) > 1 {
		noun = "namespaces"
	}
	return strings.Join(names, ", ") + " " + noun + " (" + strings.Join(fields, ", ") + ")"
}

// checkHostPaths matches each bind mount's source against the rule's
// globs. A deny pattern also catches a source above what it names: a bind
// of /etc exposes /etc/shadow. An allow pattern must cover the source
// itself (a pattern ending in /** covers its directory too).
func (x *decider) checkHostPaths(r *policy.Rule) {
	s := r.Security
	allowList := ""
	deny := newDenyMatcher(s.HostPathsDeny)
	for _, m := range x.hostBindMounts() {
		g, below, denied := deny.denied(m.src)
		if !denied && (len(s.HostPathsAllow) == 0 || allowedHostPath(s, m.src)) {
			continue
		}
		if x.omitFinding(r.Mode) {
			continue
		}
		where := "mount " + clipPath(m.dst) + ": host path " + clipPath(m.src)
		if denied {
			if below {
				x.refuseAt(r.Name, r.Mode, "mounts["+m.dst+"]", fmt.Sprintf("hostPaths: %s contains paths denied by %q", where, g))
			} else {
				x.refuseAt(r.Name, r.Mode, "mounts["+m.dst+"]", fmt.Sprintf("hostPaths: %s is denied by %q", where, g))
			}
			continue
		}
		if allowList == "" {
			allowList = globList(s.HostPathsAllow)
		}
		x.refuseAt(r.Name, r.Mode, "mounts["+m.dst+"]", fmt.Sprintf("hostPaths: %s is not in the allowed host paths %s", where, allowList))
	}
}

// hostBind is a bind mount of a host path that is not the runtime's own.
type hostBind struct{ dst, src string }

// hostBindMounts returns the container's binds of host paths, sources
// cleaned, leaving out those the kubelet or containerd made for this pod
// (RuntimeOwnedMount) and the host's /dev/shm bound for host IPC (that is
// the IPC namespace's business, hostNamespaces, not a volume). It is
// worked out once per decision, however many rules check host paths.
func (x *decider) hostBindMounts() []hostBind {
	if x.hostBinds != nil {
		return x.hostBinds
	}
	pod, c := x.req.Pod, x.req.Container
	x.hostBinds = x.hostBindBuf[:0] // not nil, even when empty
	if n := len(c.GetMounts()); n > len(x.hostBindBuf) {
		x.hostBinds = make([]hostBind, 0, n)
	}
	for _, m := range c.GetMounts() {
		if !IsBindMount(m) {
			continue
		}
		src := cleanPath(m.GetSource())
		if runtimeOwned(pod, c, src) {
			continue
		}
		if src == "/dev/shm" && m.GetDestination() == "/dev/shm" && sharesHostIPC(pod, c) {
			continue
		}
		x.hostBinds = append(x.hostBinds, hostBind{dst: m.GetDestination(), src: src})
	}
	return x.hostBinds
}

// sharesHostIPC reports whether the container shares the host's IPC namespace.
func sharesHostIPC(pod *api.PodSandbox, c *api.Container) bool {
	for _, h := range HostNamespaces(pod, c) {
		if h.Type == "ipc" {
			return true
		}
	}
	return false
}

// cleanPath is path.Clean without its byte-by-byte rewrite for the usual
// case, a path that is already clean.
func cleanPath(p string) string {
	if isCleanAbs(p) {
		return p
	}
	return path.Clean(p)
}

// isCleanAbs reports whether p is an absolute path that path.Clean would
// return unchanged: no empty, "." or ".." element and no trailing slash.
func isCleanAbs(p string) bool {
	if p == "/" {
		return true
	}
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' {
		return false
	}
	// Look at what follows each slash (the last byte is not one).
	for i := 0; ; {
		rest := p[i+1:]
		switch {
		case rest[0] == '/':
			return false // an empty element
		case rest[0] == '.' && (len(rest) == 1 || rest[1] == '/'):
			return false // "."
		case rest[0] == '.' && rest[1] == '.' && (len(rest) == 2 || rest[2] == '/'):
			return false // ".."
		}
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			return true
		}
		i += 1 + j
	}
}

// clipPath bounds a path quoted in a message; paths get more room than
// other untrusted strings because their tail is what matters.
func clipPath(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// IsBindMount reports whether m binds a host path (rather than mounting a
// filesystem such as proc, sysfs or tmpfs).
func IsBindMount(m *api.Mount) bool {
	if m.GetType() == "bind" || m.GetType() == "rbind" {
		return true
	}
	for _, o := range m.GetOptions() {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

const criDir = "/io.containerd.grpc.v1.cri/"

// RuntimeOwnedMount reports whether a bind mount is one the kubelet or
// containerd made for this very pod or container, not a hostPath volume:
//   - anything under the kubelet's directory for this pod
//     (<kubelet root>/pods/<pod UID>/: volumes, subpaths, etc-hosts, the
//     termination log under containers/, the service account token);
//   - containerd's files for this sandbox (<cri root or state>/sandboxes/
//     <sandbox id>/{hosts,hostname,resolv.conf,shm});
//   - containerd's image volumes for this container (<cri root>/containers/
//     <container id>/volumes/...).
//
// They are recognised by layout and by this pod's and container's
// identifiers, wherever the kubelet and containerd roots are; another
// pod's directory is a host path like any other.
func RuntimeOwnedMount(pod *api.PodSandbox, c *api.Container, m *api.Mount) bool {
	return runtimeOwned(pod, c, cleanPath(m.GetSource()))
}

// runtimeOwned is RuntimeOwnedMount for a cleaned source path. It matches
// without building the prefixes it looks for: it runs for every mount of
// every container.
func runtimeOwned(pod *api.PodSandbox, c *api.Container, src string) bool {
	if uid := pod.GetUid(); uid != "" && safeID(uid) {
		// <anything>/pods/<uid>/..., not at the very start.
		for i := 1; i < len(src); {
			j := strings.Index(src[i:], "/pods/")
			if j < 0 {
				break
			}
			at := i + j + len("/pods/")
			if hasDirPrefix(src[at:], uid) {
				return true
			}
			i += j + 1
		}
	}
	i := strings.Index(src, criDir)
	if i < 0 {
		return false
	}
	rest := src[i+len(criDir):]
	if id := pod.GetId(); id != "" && safeID(id) {
		if f, ok := strings.CutPrefix(rest, "sandboxes/"); ok && hasDirPrefix(f, id) {
			switch f[len(id)+1:] {
			case "hosts", "hostname", "resolv.conf", "shm":
				return true
			}
		}
	}
	if id := c.GetId(); id != "" && safeID(id) {
		if f, ok := strings.CutPrefix(rest, "containers/"); ok && hasDirPrefix(f, id) &&
			strings.HasPrefix(f[len(id)+1:], "volumes/") {
			return true
		}
	}
	return false
}

// hasDirPrefix reports whether s starts with the path element dir and a
// slash after it.
func hasDirPrefix(s, dir string) bool {
	return len(s) > len(dir) && s[len(dir)] == '/' && s[:len(dir)] == dir
}

// safeID keeps an identifier from smuggling path elements into a prefix.
func safeID(id string) bool {
	return !strings.ContainsAny(id, "/\x00") && id != "." && id != ".."
}

// deniedHostPath returns the first deny pattern that matches src or
// something below it.
func deniedHostPath(deny []policy.Glob, src string) (string, bool, bool) {
	return newDenyMatcher(deny).denied(src)
}

// denyMatcher is a rule's deny patterns with their segments split once
// per decision rather than once per mount and pattern: a container may
// have thousands of binds.
type denyMatcher struct {
	deny []policy.Glob
	segs [][]string
}

func newDenyMatcher(deny []policy.Glob) denyMatcher {
	m := denyMatcher{deny: deny, segs: make([][]string, len(deny))}
	for i, g := range deny {
		m.segs[i] = splitPath(g.String())
	}
	return m
}

// denied is deniedHostPath with the patterns split.
func (m denyMatcher) denied(src string) (string, bool, bool) {
	for _, g := range m.deny {
		if g.Match(src) {
			return g.String(), false, true
		}
	}
	if len(m.deny) == 0 {
		return "", false, false
	}
	ds := splitPath(src)
	for i, g := range m.deny {
		if reachesBelow(m.segs[i], ds, 0) {
			return g.String(), true, true
		}
	}
	return "", false, false
}

func allowedHostPath(s *policy.SecurityRules, src string) bool {
	for _, g := range s.HostPathsAllow {
		if g.Match(src) {
			return true
		}
	}
	// A pattern ending in /** covers its directory too.
	for _, g := range s.HostPathsAllowDirs {
		if g.Match(src) {
			return true
		}
	}
	return false
}

// globReachesBelow reports whether a path-mode pattern matches some path
// strictly below dir. It errs towards yes: a segment mixing ** with other
// characters is assumed to reach.
func globReachesBelow(pattern, dir string) bool {
	ps := splitPath(pattern)
	ds := splitPath(dir)
	return reachesBelow(ps, ds, 0)
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func reachesBelow(ps, ds []string, depth int) bool {
	if depth > 64 {
		return true
	}
	if len(ds) == 0 {
		return len(ps) > 0
	}
	if len(ps) == 0 {
		return false
	}
	seg := ps[0]
	if seg == "**" {
		return reachesBelow(ps[1:], ds, depth+1) || reachesBelow(ps, ds[1:], depth+1)
	}
	if strings.Contains(seg, "**") {
		return true
	}
	ok, err := path.Match(seg, ds[0])
	if err != nil {
		return true
	}
	return ok && reachesBelow(ps[1:], ds[1:], depth+1)
}

func globList(gs []policy.Glob) string {
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = g.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// checkDevices refuses device nodes not on the rule's allow list. A device
// is what its type and numbers say: runc makes the node from them at the
// path, so an entry admits a device only when both its path glob (on the
// cleaned path) and its type and numbers agree. A privileged container
// carries every host device and is refused here.
func (x *decider) checkDevices(r *policy.Rule, c *api.Container) {
	for _, d := range c.GetLinux().GetDevices() {
		p := cleanPath(d.GetPath())
		allowed := false
		for i := range r.Security.AllowedDevices {
			if r.Security.AllowedDevices[i].Admits(p, d.GetType(), d.GetMajor(), d.GetMinor()) {
				allowed = true
				break
			}
		}
		if allowed || x.omitFinding(r.Mode) {
			continue
		}
		desc := fmt.Sprintf("%s (%s %d:%d)", clipPath(p), clip(d.GetType()), d.GetMajor(), d.GetMinor())
		if len(r.Security.AllowedDevices) == 0 {
			x.refuseAt(r.Name, r.Mode, "linux.devices["+d.GetPath()+"]", "devices: device "+desc+" is denied (no allowedDevices)")
		} else {
			x.refuseAt(r.Name, r.Mode, "linux.devices["+d.GetPath()+"]", "devices: device "+desc+" is not in allowedDevices "+deviceList(r.Security.AllowedDevices))
		}
	}
}

// checkNetDevices refuses host network interfaces moved into the
// container (linux.netDevices): the interface leaves the host for the
// container's network namespace, a host device as surely as a device node
// is. allowedDevices names device nodes, so it admits none.
func (x *decider) checkNetDevices(r *policy.Rule, c *api.Container) {
	names := make([]string, 0, len(c.GetLinux().GetNetDevices()))
	for k := range c.GetLinux().GetNetDevices() {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if x.omitFinding(r.Mode) {
			continue
		}
		x.refuseAt(r.Name, r.Mode, "linux.netDevices["+k+"]", fmt.Sprintf("devices: host network device %q is moved into the container (as %q)",
			clip(k), clip(c.GetLinux().GetNetDevices()[k].GetName())))
	}
}

func deviceList(rs []policy.DeviceRule) string {
	parts := make([]string, len(rs))
	for i := range rs {
		parts[i] = rs[i].String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// checkSysctls refuses sysctls not on the rule's allow list (by default the
// Kubernetes safe set). Names written with slashes are read as the kubelet
// reads them: kernel/shm_rmid_forced is kernel.shm_rmid_forced.
func (x *decider) checkSysctls(r *policy.Rule, c *api.Container) {
	names := make([]string, 0, len(c.GetLinux().GetSysctl()))
	for k := range c.GetLinux().GetSysctl() {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := CheckSysctlName(k); err != nil {
			if x.omitFinding(r.Mode) {
				continue
			}
			x.refuseAt(r.Name, r.Mode, "linux.sysctl["+k+"]", fmt.Sprintf("sysctls: %q is not a sysctl name: %v", clip(k), err))
			continue
		}
		name := SysctlDotted(k)
		allowed := false
		for _, g := range r.Security.SysctlsAllow {
			if g.Match(name) {
				allowed = true
				break
			}
		}
		if !allowed && !x.omitFinding(r.Mode) {
			x.refuseAt(r.Name, r.Mode, "linux.sysctl["+k+"]", fmt.Sprintf("sysctls: %s is not an allowed sysctl (allowed: %s)", clip(name), sysctlAllowList(r.Security.SysctlsAllow)))
		}
	}
}

func sysctlAllowList(gs []policy.Glob) string {
	if safe := policy.SafeSysctls(); len(gs) == len(safe) {
		same := true
		for i, g := range gs {
			same = same && g.String() == safe[i]
		}
		if same {
			return "the Kubernetes safe set"
		}
	}
	return globList(gs)
}

// maxSysctlName is the longest sysctl name the API server accepts.
const maxSysctlName = 253

// CheckSysctlName refuses a name that is not a clean sysctl name. runc
// writes a sysctl to /proc/sys/<name with dots as slashes>, so a name is a
// path to it: "net.ipv4.conf/../../../kernel/core_pattern" passes a
// net.ipv4.* glob and writes kernel.core_pattern. Each segment between
// dots or slashes must be what the API server allows in pod sysctl names
// (lower-case letters, digits, '-' and '_', starting and ending with a
// letter or digit), which leaves no empty, "." or ".." segment: the path
// runc writes is then the name itself, in the subtree its dotted form
// names.
func CheckSysctlName(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case len(name) > maxSysctlName:
		return fmt.Errorf("longer than %d bytes", maxSysctlName)
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%q is not a name segment: the runtime writes a sysctl as a path under /proc/sys", seg)
		}
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' && name[i] != '/' {
			continue
		}
		seg := name[start:i]
		start = i + 1
		if seg == "" {
			return errors.New("empty segment (a leading, trailing or doubled separator)")
		}
		if !sysctlSegment(seg) {
			return fmt.Errorf("%q is not a name segment (lower-case letters, digits, '-' and '_', starting and ending with a letter or digit)", clip(seg))
		}
	}
	return nil
}

func sysctlSegment(s string) bool {
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// SysctlDotted converts a sysctl name to its dotted form the way the
// kubelet does: if the first separator is a slash, slashes and dots swap.
func SysctlDotted(name string) string {
	i := strings.IndexAny(name, "./")
	if i < 0 || name[i] == '.' {
		return name
	}
	b := []byte(name)
	for j, ch := range b {
		switch ch {
		case '.':
			b[j] = '/'
		case '/':
			b[j] = '.'
		}
	}
	return string(b)
}

// Unconfined reports whether a container will run without a seccomp
// filter: no filter in its spec and no profile asked for, or Unconfined
// asked for. RuntimeDefault and Localhost profiles are left to the
// runtime, even when it does not apply them (a privileged container).
func Unconfined(c *api.Container) bool {
	lin := c.GetLinux()
	if lin.GetSeccompPolicy() != nil {
		return false
	}
	prof := lin.GetSeccompProfile()
	return prof == nil || prof.GetProfileType() == api.SecurityProfile_UNCONFINED
}

func (x *decider) checkSeccomp(r *policy.Rule, c *api.Container) {
	if !Unconfined(c) {
		return
	}
	switch r.Security.Seccomp {
	case policy.SeccompReject:
		x.refuseAt(r.Name, r.Mode, "linux.seccompPolicy", "seccomp: container runs without a seccomp profile (Unconfined); the rule requires RuntimeDefault or Localhost")
	case policy.SeccompInject:
		if x.adj.GetLinux().GetSeccompPolicy() != nil {
			return // an earlier rule injected it
		}
		if r.Mode == policy.ModeAudit {
			// A finding: it replaces the profile the container runs with.
			x.finding(r.Name, "linux.seccompPolicy", "would inject the runtime's default seccomp profile (container runs Unconfined)")
			return
		}
		prof, err := x.req.Facts.runtimeDefaultSeccomp()
		if err != nil {
			x.refuse(r.Name, r.Mode, "seccomp: cannot inject the runtime's default profile: "+err.Error())
			return
		}
		x.adj.SetLinuxSeccompPolicy(prof)
		x.trace(r.Name, "linux.seccompPolicy", "inject", fmt.Sprintf("runtime default (%d syscall rules)", len(prof.GetSyscalls())))
		x.markChanged(r)
	}
}

// knownDirs are /sys directories worth masking (the kubelet's and
// containerd's default masks among them); any other masked path is taken
// as a file unless the policy writes it with a trailing slash.
var knownDirs = map[string]bool{
	"/sys/firmware": true, "/sys/devices/virtual/powercap": true, "/sys/kernel": true,
	"/sys/fs": true, "/sys/module": true, "/sys/kernel/debug": true, "/sys/kernel/security": true,
}

// MaskMount is the mount that hides p: /dev/null bound read-only over a
// file, an empty read-only tmpfs over a directory. ok is false under /proc
// (except runc's lxcfs list): runc refuses to start a container with such
// a mount, so specguard does not add it.
func MaskMount(p string) (m *api.Mount, ok bool) {
	dir := strings.HasSuffix(p, "/")
	p = strings.TrimSuffix(p, "/")
	if policy.RuncRefusesMount(p) {
		return nil, false
	}
	if dir || knownDirs[p] {
		return &api.Mount{Destination: p, Type: "tmpfs", Source: "tmpfs",
			Options: []string{"ro", "nosuid", "nodev", "noexec", "mode=0555"}}, true
	}
	// No nodev: the mask must still open as /dev/null.
	return &api.Mount{Destination: p, Type: "bind", Source: "/dev/null",
		Options: []string{"bind", "ro", "nosuid", "noexec"}}, true
}

func (x *decider) maskPaths(r *policy.Rule) {
	for _, mp := range r.Security.MaskedPaths {
		m, ok := MaskMount(mp)
		if !ok {
			x.trace(r.Name, "mounts["+mp+"]", "mask-skipped",
				"runc refuses mounts under /proc; the runtime's own maskedPaths cover the kernel's defaults")
			continue
		}
		if hasAdjustedMount(x.adj, m.Destination) {
			continue
		}
		if r.Mode == policy.ModeAudit {
			// Masking over a mount of the container's own hides it: a finding.
			x.auditChange(r.Name, "mounts["+m.Destination+"]", hasMount(x.req.Container, m.Destination), "would mask "+m.Destination)
			continue
		}
		x.adj.AddMount(m)
		x.trace(r.Name, "mounts["+m.Destination+"]", "mask", m.Source+" ("+strings.Join(m.Options, ",")+")")
		x.markChanged(r)
	}
}

func hasMount(c *api.Container, dest string) bool {
	for _, m := range c.GetMounts() {
		if path.Clean(m.GetDestination()) == dest {
			return true
		}
	}
	return false
}

func hasAdjustedMount(adj *api.ContainerAdjustment, dest string) bool {
	for _, m := range adj.GetMounts() {
		if m.GetDestination() == dest {
			return true
		}
	}
	return false
}
