package podgen

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ErrRunAsNonRoot is wrapped by the errors VerifyRunAsNonRoot returns.
var ErrRunAsNonRoot = errors.New("runAsNonRoot violation")

// Default masked and read-only paths the kubelet sends unless procMount is
// Unmasked. They follow moby's defaults; the runtime drops them for
// privileged containers. The kubelet also masks
// /sys/devices/system/cpu/cpuN/thermal_throttle for each CPU where that
// exists on the host; that part is host state and not generated here.
var (
	defaultMaskedPaths = []string{
		"/proc/asound",
		"/proc/acpi",
		"/proc/interrupts",
		"/proc/kcore",
		"/proc/keys",
		"/proc/latency_stats",
		"/proc/timer_list",
		"/proc/timer_stats",
		"/proc/sched_debug",
		"/proc/scsi",
		"/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
	defaultReadonlyPaths = []string{
		"/proc/bus",
		"/proc/fs",
		"/proc/irq",
		"/proc/sys",
		"/proc/sysrq-trigger",
	}
)

// AppArmor annotation prefix and values the kubelet still honours before
// the pod field (static pods may carry only the annotation).
const (
	AppArmorAnnotationPrefix = "container.apparmor.security.beta.kubernetes.io/"
	AppArmorRuntimeDefault   = "runtime/default"
	AppArmorUnconfined       = "unconfined"
	AppArmorLocalhostPrefix  = "localhost/"
)

// EffectiveSecurityContext merges the pod's security context under the
// container's, field by field, as the kubelet does. The result is never nil.
func EffectiveSecurityContext(pod *v1.Pod, c *v1.Container) *v1.SecurityContext {
	out := &v1.SecurityContext{}
	if psc := pod.Spec.SecurityContext; psc != nil {
		out.SELinuxOptions = psc.SELinuxOptions
		out.WindowsOptions = psc.WindowsOptions
		out.RunAsUser = psc.RunAsUser
		out.RunAsGroup = psc.RunAsGroup
		out.RunAsNonRoot = psc.RunAsNonRoot
	}
	csc := c.SecurityContext
	if csc == nil {
		return out.DeepCopy()
	}
	if csc.SELinuxOptions != nil {
		out.SELinuxOptions = csc.SELinuxOptions
	}
	if csc.WindowsOptions != nil {
		out.WindowsOptions = csc.WindowsOptions
	}
	if csc.Capabilities != nil {
		out.Capabilities = csc.Capabilities
	}
	if csc.Privileged != nil {
		out.Privileged = csc.Privileged
	}
	if csc.RunAsUser != nil {
		out.RunAsUser = csc.RunAsUser
	}
	if csc.RunAsGroup != nil {
		out.RunAsGroup = csc.RunAsGroup
	}
	if csc.RunAsNonRoot != nil {
		out.RunAsNonRoot = csc.RunAsNonRoot
	}
	if csc.ReadOnlyRootFilesystem != nil {
		out.ReadOnlyRootFilesystem = csc.ReadOnlyRootFilesystem
	}
	if csc.AllowPrivilegeEscalation != nil {
		out.AllowPrivilegeEscalation = csc.AllowPrivilegeEscalation
	}
	if csc.ProcMount != nil {
		out.ProcMount = csc.ProcMount
	}
	return out.DeepCopy()
}

// PodRef is how the kubelet names a pod in messages: name_namespace(uid).
func PodRef(pod *v1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

// VerifyRunAsNonRoot applies the kubelet's runAsNonRoot check. imageUID is
// the image's numeric user (nil when the image names a user instead, in
// imageUser); an image without USER runs as uid 0. The messages are the
// kubelet's.
func VerifyRunAsNonRoot(pod *v1.Pod, c *v1.Container, imageUID *int64, imageUser string) error {
	sc := EffectiveSecurityContext(pod, c)
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		return nil
	}
	if sc.RunAsUser != nil {
		if *sc.RunAsUser == 0 {
			return fmt.Errorf("%w: container's runAsUser breaks non-root policy (pod: %q, container: %s)", ErrRunAsNonRoot, PodRef(pod), c.Name)
		}
		return nil
	}
	switch {
	case imageUID != nil && *imageUID == 0:
		return fmt.Errorf("%w: container has runAsNonRoot and image will run as root (pod: %q, container: %s)", ErrRunAsNonRoot, PodRef(pod), c.Name)
	case imageUID == nil && imageUser != "":
		return fmt.Errorf("%w: container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", ErrRunAsNonRoot, imageUser, PodRef(pod), c.Name)
	}
	return nil
}

// NamespaceOptions are the pod's IPC, network and PID namespace modes:
// NODE for hostIPC/hostNetwork/hostPID, else POD; PID is POD with
// shareProcessNamespace and CONTAINER otherwise. usernsMode is the user
// namespace mode the kubelet sends when the UserNamespacesSupport gate is on.
func NamespaceOptions(pod *v1.Pod) *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{
		Ipc:     runtimeapi.NamespaceMode_POD,
		Network: runtimeapi.NamespaceMode_POD,
		Pid:     runtimeapi.NamespaceMode_CONTAINER,
	}
	if pod.Spec.HostIPC {
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostNetwork {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	switch {
	case pod.Spec.HostPID:
		ns.Pid = runtimeapi.NamespaceMode_NODE
	case pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace:
		ns.Pid = runtimeapi.NamespaceMode_POD
	}
	ns.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE}
	if pod.Spec.HostUsers != nil && !*pod.Spec.HostUsers {
		// The uid/gid ranges are allocated by the kubelet from node state.
		ns.UsernsOptions.Mode = runtimeapi.NamespaceMode_POD
	}
	return ns
}

// SeccompProfile is the container's seccomp profile: the container field,
// else the pod field, else RuntimeDefault when the kubelet runs with
// seccompDefault and Unconfined otherwise. Localhost profiles are relative
// to <kubelet root>/seccomp.
func SeccompProfile(pod *v1.Pod, c *v1.Container, seccompDefault bool, kubeletRootDir string) (*runtimeapi.SecurityProfile, error) {
	var sp *v1.SeccompProfile
	if c.SecurityContext != nil && c.SecurityContext.SeccompProfile != nil {
		sp = c.SecurityContext.SeccompProfile
	} else if pod.Spec.SecurityContext != nil && pod.Spec.SecurityContext.SeccompProfile != nil {
		sp = pod.Spec.SecurityContext.SeccompProfile
	}
	if sp == nil {
		if seccompDefault {
			return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}, nil
		}
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}, nil
	}
	switch sp.Type {
	case v1.SeccompProfileTypeRuntimeDefault:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}, nil
	case v1.SeccompProfileTypeLocalhost:
		if sp.LocalhostProfile == nil || *sp.LocalhostProfile == "" {
			return nil, errors.New("localhostProfile must be set if seccompProfile type is Localhost.") //nolint:staticcheck // ST1005: the kubelet's message, verbatim
		}
		if kubeletRootDir == "" {
			kubeletRootDir = DefaultKubeletRootDir
		}
		return &runtimeapi.SecurityProfile{
			ProfileType:  runtimeapi.SecurityProfile_Localhost,
			LocalhostRef: filepath.Join(kubeletRootDir, "seccomp", *sp.LocalhostProfile),
		}, nil
	}
	return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}, nil
}

// AppArmorProfile is the container's AppArmor profile and the deprecated
// string form the kubelet sends beside it: the container field, else the
// beta annotation, else the pod field; nil when none is set.
func AppArmorProfile(pod *v1.Pod, c *v1.Container) (*runtimeapi.SecurityProfile, string, error) {
	var p *v1.AppArmorProfile
	switch {
	case c.SecurityContext != nil && c.SecurityContext.AppArmorProfile != nil:
		p = c.SecurityContext.AppArmorProfile
	case pod.Annotations[AppArmorAnnotationPrefix+c.Name] != "":
		p = appArmorFromAnnotation(pod.Annotations[AppArmorAnnotationPrefix+c.Name])
		if p == nil && pod.Spec.SecurityContext != nil {
			p = pod.Spec.SecurityContext.AppArmorProfile
		}
	case pod.Spec.SecurityContext != nil && pod.Spec.SecurityContext.AppArmorProfile != nil:
		p = pod.Spec.SecurityContext.AppArmorProfile
	}
	if p == nil {
		return nil, "", nil
	}
	switch p.Type {
	case v1.AppArmorProfileTypeRuntimeDefault:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}, AppArmorRuntimeDefault, nil
	case v1.AppArmorProfileTypeLocalhost:
		if p.LocalhostProfile == nil {
			return nil, "", errors.New("missing localhost apparmor profile name")
		}
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: *p.LocalhostProfile},
			AppArmorLocalhostPrefix + *p.LocalhostProfile, nil
	case v1.AppArmorProfileTypeUnconfined:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}, AppArmorUnconfined, nil
	}
	return nil, "", fmt.Errorf("unknown apparmor profile type: %q", p.Type)
}

func appArmorFromAnnotation(v string) *v1.AppArmorProfile {
	switch {
	case v == AppArmorRuntimeDefault:
		return &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeRuntimeDefault}
	case v == AppArmorUnconfined:
		return &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeUnconfined}
	case strings.HasPrefix(v, AppArmorLocalhostPrefix):
		name := strings.TrimPrefix(v, AppArmorLocalhostPrefix)
		return &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeLocalhost, LocalhostProfile: &name}
	}
	return nil
}

// MaskedPaths and ReadonlyPaths are the kubelet's defaults unless procMount
// is Unmasked, which gets none.
func MaskedPaths(procMount *v1.ProcMountType) []string {
	if procMount != nil && *procMount == v1.UnmaskedProcMount {
		return []string{}
	}
	return append([]string(nil), defaultMaskedPaths...)
}

// ReadonlyPaths: see MaskedPaths.
func ReadonlyPaths(procMount *v1.ProcMountType) []string {
	if procMount != nil && *procMount == v1.UnmaskedProcMount {
		return []string{}
	}
	return append([]string(nil), defaultReadonlyPaths...)
}

// HasPrivilegedContainer reports whether any init, regular or ephemeral
// container is privileged; the sandbox is then privileged too.
func HasPrivilegedContainer(pod *v1.Pod) bool {
	priv := func(sc *v1.SecurityContext) bool {
		return sc != nil && sc.Privileged != nil && *sc.Privileged
	}
	for i := range pod.Spec.InitContainers {
		if priv(pod.Spec.InitContainers[i].SecurityContext) {
			return true
		}
	}
	for i := range pod.Spec.Containers {
		if priv(pod.Spec.Containers[i].SecurityContext) {
			return true
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if priv(pod.Spec.EphemeralContainers[i].SecurityContext) {
			return true
		}
	}
	return false
}

func selinuxOption(o *v1.SELinuxOptions) *runtimeapi.SELinuxOption {
	if o == nil {
		return nil
	}
	return &runtimeapi.SELinuxOption{User: o.User, Role: o.Role, Type: o.Type, Level: o.Level}
}

func supplementalGroupsPolicy(p *v1.SupplementalGroupsPolicy) (runtimeapi.SupplementalGroupsPolicy, error) {
	if p == nil {
		return runtimeapi.SupplementalGroupsPolicy_Merge, nil
	}
	switch *p {
	case v1.SupplementalGroupsPolicyMerge:
		return runtimeapi.SupplementalGroupsPolicy_Merge, nil
	case v1.SupplementalGroupsPolicyStrict:
		return runtimeapi.SupplementalGroupsPolicy_Strict, nil
	}
	return 0, fmt.Errorf("unsupported supplementalGroupsPolicy: %s", *p)
}

// containerSecurityContext is the kubelet's determineEffectiveSecurityContext.
// imageUID/imageUser are the image's user when known (known=false leaves
// run_as_user unset).
func containerSecurityContext(pod *v1.Pod, c *v1.Container, node *NodeConfig, img ImageUser) (*runtimeapi.LinuxContainerSecurityContext, error) {
	esc := EffectiveSecurityContext(pod, c)
	sc := &runtimeapi.LinuxContainerSecurityContext{
		SelinuxOptions: selinuxOption(esc.SELinuxOptions),
	}
	if caps := esc.Capabilities; caps != nil {
		sc.Capabilities = &runtimeapi.Capability{
			AddCapabilities:  make([]string, len(caps.Add)),
			DropCapabilities: make([]string, len(caps.Drop)),
		}
		for i, a := range caps.Add {
			sc.Capabilities.AddCapabilities[i] = string(a)
		}
		for i, d := range caps.Drop {
			sc.Capabilities.DropCapabilities[i] = string(d)
		}
	}
	if esc.RunAsUser != nil {
		sc.RunAsUser = &runtimeapi.Int64Value{Value: *esc.RunAsUser}
	}
	if esc.RunAsGroup != nil {
		sc.RunAsGroup = &runtimeapi.Int64Value{Value: *esc.RunAsGroup}
	}
	if esc.Privileged != nil {
		sc.Privileged = *esc.Privileged
	}
	if esc.ReadOnlyRootFilesystem != nil {
		sc.ReadonlyRootfs = *esc.ReadOnlyRootFilesystem
	}

	var err error
	if sc.Seccomp, err = SeccompProfile(pod, c, node.SeccompDefault, node.RootDir); err != nil {
		return nil, err
	}
	// The kubelet still fills the deprecated field for runtimes that read only it.
	if sc.Apparmor, sc.ApparmorProfile, err = AppArmorProfile(pod, c); err != nil { //nolint:staticcheck // SA1019, as above
		return nil, err
	}
	if sc.RunAsUser == nil && img.Known {
		if img.UID != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *img.UID}
		}
		sc.RunAsUsername = img.Name
	}
	sc.NamespaceOptions = NamespaceOptions(pod)
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.FSGroup != nil {
			sc.SupplementalGroups = append(sc.SupplementalGroups, *psc.FSGroup)
		}
		sc.SupplementalGroups = append(sc.SupplementalGroups, psc.SupplementalGroups...)
		if psc.SupplementalGroupsPolicy != nil {
			if sc.SupplementalGroupsPolicy, err = supplementalGroupsPolicy(psc.SupplementalGroupsPolicy); err != nil {
				return nil, err
			}
		}
	}
	sc.NoNewPrivs = esc.AllowPrivilegeEscalation != nil && !*esc.AllowPrivilegeEscalation
	sc.MaskedPaths = MaskedPaths(esc.ProcMount)
	sc.ReadonlyPaths = ReadonlyPaths(esc.ProcMount)
	return sc, nil
}
