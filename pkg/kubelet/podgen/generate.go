package podgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/specguard/specguard/pkg/kubelet"
)

// ErrCreateContainerConfig is wrapped by errors for which the kubelet would
// refuse to create the container (its CreateContainerConfigError).
var ErrCreateContainerConfig = errors.New("CreateContainerConfigError")

// PlaceholderPodUID is used when the manifest has no metadata.uid; the API
// server would assign a random one.
const PlaceholderPodUID = "00000000-0000-0000-0000-000000000000"

// DefaultContainerAnnotation names the container kubectl picks by default.
const DefaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// ServiceAccountMountPath is where the ServiceAccount admission plugin
// mounts the API token volume.
const ServiceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// Container kinds.
const (
	KindContainer = "container"
	KindInit      = "init"
	KindSidecar   = "sidecar"
	KindEphemeral = "ephemeral"
)

// Where the restart count came from.
const (
	RestartCountFromOptions = "given"
	RestartCountFromLogs    = "log-directory"
)

// GenerateOptions select the container and supply what the kubelet would
// know beyond the manifest.
type GenerateOptions struct {
	// Container is the container's name; "" picks the
	// kubectl.kubernetes.io/default-container annotation's, else the first
	// regular container.
	Container string
	// RestartCount is the attempt to generate; nil reads the pod log
	// directory as the kubelet does when it has no record of the container.
	RestartCount *int
	// SandboxAttempt is PodSandboxMetadata.Attempt (0 for a new pod).
	SandboxAttempt uint32
	// PodLogsDir is the kubelet's podLogsDirectory; "" -> DefaultPodLogsDir.
	PodLogsDir string
	// ImageUser is the image's USER (see ParseImageUser); the zero value
	// means the image was not inspected.
	ImageUser ImageUser
	Node      NodeConfig
}

// GeneratedConfigs are the CRI requests the kubelet would send for one
// container of a pod. Only the two configs are part of the JSON form.
type GeneratedConfigs struct {
	PodSandboxConfig *runtimeapi.PodSandboxConfig `json:"podSandboxConfig"`
	ContainerConfig  *runtimeapi.ContainerConfig  `json:"containerConfig"`

	Pod                *v1.Pod          `json:"-"` // the manifest after DefaultPod
	ContainerName      string           `json:"-"`
	ContainerKind      string           `json:"-"` // KindContainer, KindInit, ...
	QOSClass           kubelet.QOSClass `json:"-"`
	RestartCount       int              `json:"-"`
	RestartCountSource string           `json:"-"`
	// LogPath is the absolute log file: LogDirectory joined with LogPath.
	LogPath  string    `json:"-"`
	Warnings []Warning `json:"-"`
}

// GenerateConfigs builds the PodSandboxConfig and ContainerConfig the
// kubelet would send for one container of pod. It is pure except that,
// without opts.RestartCount, it reads the container's log directory.
// Values that need the cluster or the running node are left out or set to
// a documented placeholder, each with a Warning.
func GenerateConfigs(pod *v1.Pod, opts GenerateOptions) (*GeneratedConfigs, error) {
	if pod == nil {
		return nil, errors.New("no pod")
	}
	if pod.Name == "" {
		return nil, errors.New("metadata.name: required")
	}
	if pod.Spec.OS != nil && pod.Spec.OS.Name == v1.Windows {
		return nil, errors.New("spec.os.name: windows pods are not supported; only Linux configs are generated")
	}
	g := &generator{node: &opts.Node}
	p := DefaultPod(pod)
	if p.UID == "" {
		p.UID = PlaceholderPodUID
		g.warn("metadata.uid", "not set (the API server assigns one); using %s", PlaceholderPodUID)
	}
	if err := checkNames(p); err != nil {
		return nil, err
	}
	c, kind, field, err := selectContainer(p, opts.Container)
	if err != nil {
		return nil, err
	}
	out := &GeneratedConfigs{Pod: p, ContainerName: c.Name, ContainerKind: kind, QOSClass: PodQOSClass(p)}

	podLogDir := kubelet.BuildPodLogsDirectory(opts.PodLogsDir, p.Namespace, p.Name, string(p.UID))
	switch {
	case opts.RestartCount != nil:
		if *opts.RestartCount < 0 || int64(*opts.RestartCount) > int64(^uint32(0)>>1) {
			return nil, fmt.Errorf("restart count %d out of range", *opts.RestartCount)
		}
		out.RestartCount, out.RestartCountSource = *opts.RestartCount, RestartCountFromOptions
	default:
		n, err := kubelet.RestartCountFromLogDir(podLogDir, c.Name)
		if err != nil {
			return nil, fmt.Errorf("restart count from %s: %w", kubelet.BuildContainerLogsDirectory(podLogDir, c.Name), err)
		}
		out.RestartCount, out.RestartCountSource = n, RestartCountFromLogs
	}
	out.LogPath = kubelet.BuildContainerLogPath(podLogDir, c.Name, out.RestartCount)

	if out.PodSandboxConfig, err = g.sandboxConfig(p, opts.SandboxAttempt, podLogDir, out.QOSClass); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCreateContainerConfig, err)
	}
	if out.ContainerConfig, err = g.containerConfig(p, c, kind, field, out.RestartCount, opts.ImageUser); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCreateContainerConfig, err)
	}
	out.Warnings = g.warnings
	return out, nil
}

type generator struct {
	node     *NodeConfig
	warnings []Warning
}

func (g *generator) warn(field, format string, args ...any) {
	g.warnings = append(g.warnings, Warning{Field: field, Message: fmt.Sprintf(format, args...)})
}

// checkNames rejects what the API server would: no containers, empty or
// repeated container names.
func checkNames(p *v1.Pod) error {
	if len(p.Spec.Containers) == 0 {
		return errors.New("spec.containers: at least one container is required")
	}
	seen := map[string]string{}
	check := func(name, field string) error {
		if name == "" {
			return fmt.Errorf("%s.name: required", field)
		}
		if prev, ok := seen[name]; ok {
			return fmt.Errorf("%s.name: %q already used by %s", field, name, prev)
		}
		seen[name] = field
		return nil
	}
	for i := range p.Spec.InitContainers {
		if err := check(p.Spec.InitContainers[i].Name, fmt.Sprintf("spec.initContainers[%d]", i)); err != nil {
			return err
		}
	}
	for i := range p.Spec.Containers {
		if err := check(p.Spec.Containers[i].Name, fmt.Sprintf("spec.containers[%d]", i)); err != nil {
			return err
		}
	}
	for i := range p.Spec.EphemeralContainers {
		if err := check(p.Spec.EphemeralContainers[i].Name, fmt.Sprintf("spec.ephemeralContainers[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

// findContainer looks a name up among init, regular and ephemeral containers.
func findContainer(p *v1.Pod, name string) *v1.Container {
	c, _, _, err := selectContainer(p, name)
	if err != nil {
		return nil
	}
	return c
}

func selectContainer(p *v1.Pod, name string) (*v1.Container, string, string, error) {
	if name == "" {
		name = p.Annotations[DefaultContainerAnnotation]
	}
	if name == "" {
		return &p.Spec.Containers[0], KindContainer, "spec.containers[0]", nil
	}
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == name {
			return &p.Spec.Containers[i], KindContainer, fmt.Sprintf("spec.containers[%d]", i), nil
		}
	}
	for i := range p.Spec.InitContainers {
		c := &p.Spec.InitContainers[i]
		if c.Name == name {
			kind := KindInit
			if isSidecar(p, name) {
				kind = KindSidecar
			}
			return c, kind, fmt.Sprintf("spec.initContainers[%d]", i), nil
		}
	}
	for i := range p.Spec.EphemeralContainers {
		if p.Spec.EphemeralContainers[i].Name == name {
			return (*v1.Container)(&p.Spec.EphemeralContainers[i].EphemeralContainerCommon), KindEphemeral,
				fmt.Sprintf("spec.ephemeralContainers[%d]", i), nil
		}
	}
	names := []string{}
	for _, l := range [][]v1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range l {
			names = append(names, l[i].Name)
		}
	}
	for i := range p.Spec.EphemeralContainers {
		names = append(names, p.Spec.EphemeralContainers[i].Name)
	}
	return nil, "", "", fmt.Errorf("container %q not found in pod %s/%s (containers: %s)", name, p.Namespace, p.Name, strings.Join(names, ", "))
}

// PodLabels are the sandbox labels: the pod's labels with the kubelet's
// three identity labels on top.
func PodLabels(p *v1.Pod) map[string]string {
	l := make(map[string]string, len(p.Labels)+3)
	for k, v := range p.Labels {
		l[k] = v
	}
	l[kubelet.PodNameLabel] = p.Name
	l[kubelet.PodNamespaceLabel] = p.Namespace
	l[kubelet.PodUIDLabel] = string(p.UID)
	return l
}

// ContainerLabels are exactly the four identity labels.
func ContainerLabels(p *v1.Pod, containerName string) map[string]string {
	return map[string]string{
		kubelet.PodNameLabel:       p.Name,
		kubelet.PodNamespaceLabel:  p.Namespace,
		kubelet.PodUIDLabel:        string(p.UID),
		kubelet.ContainerNameLabel: containerName,
	}
}

// ContainerAnnotations are the kubelet's container annotations; pod
// annotations are not copied.
func ContainerAnnotations(p *v1.Pod, c *v1.Container, restartCount int) (map[string]string, error) {
	a := map[string]string{
		kubelet.ContainerHashAnnotation:                     ContainerHash(c),
		kubelet.ContainerRestartCountAnnotation:             strconv.Itoa(restartCount),
		kubelet.ContainerTerminationMessagePathAnnotation:   c.TerminationMessagePath,
		kubelet.ContainerTerminationMessagePolicyAnnotation: string(c.TerminationMessagePolicy),
	}
	if p.DeletionGracePeriodSeconds != nil {
		a[kubelet.PodDeletionGracePeriodAnnotation] = strconv.FormatInt(*p.DeletionGracePeriodSeconds, 10)
	}
	if p.Spec.TerminationGracePeriodSeconds != nil {
		a[kubelet.PodTerminationGracePeriodAnnotation] = strconv.FormatInt(*p.Spec.TerminationGracePeriodSeconds, 10)
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		js, err := json.Marshal(c.Lifecycle.PreStop)
		if err != nil {
			return nil, fmt.Errorf("preStop handler: %w", err)
		}
		a[kubelet.ContainerPreStopHandlerAnnotation] = string(js)
	}
	if len(c.Ports) > 0 {
		js, err := json.Marshal(c.Ports)
		if err != nil {
			return nil, fmt.Errorf("ports: %w", err)
		}
		a[kubelet.ContainerPortsAnnotation] = string(js)
	}
	return a, nil
}

// PortMappings are the sandbox's port mappings: every port of the regular
// containers, repeated names (or unnamed repeats of family, protocol, host
// IP and ports) dropped.
func PortMappings(p *v1.Pod) []*runtimeapi.PortMapping {
	var out []*runtimeapi.PortMapping
	for i := range p.Spec.Containers {
		seen := map[string]bool{}
		for _, port := range p.Spec.Containers[i].Ports {
			n := portName(port)
			if seen[n] {
				continue
			}
			seen[n] = true
			out = append(out, &runtimeapi.PortMapping{
				Protocol:      runtimeProtocol(port.Protocol),
				ContainerPort: port.ContainerPort,
				HostPort:      port.HostPort,
				HostIp:        port.HostIP,
			})
		}
	}
	return out
}

func runtimeProtocol(p v1.Protocol) runtimeapi.Protocol {
	switch p {
	case v1.ProtocolUDP:
		return runtimeapi.Protocol_UDP
	case v1.ProtocolSCTP:
		return runtimeapi.Protocol_SCTP
	}
	return runtimeapi.Protocol_TCP
}

func (g *generator) sandboxConfig(p *v1.Pod, attempt uint32, logDir string, qos kubelet.QOSClass) (*runtimeapi.PodSandboxConfig, error) {
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{
			Name: p.Name, Namespace: p.Namespace, Uid: string(p.UID), Attempt: attempt,
		},
		Labels:       PodLabels(p),
		Annotations:  copyMap(p.Annotations),
		LogDirectory: logDir,
		DnsConfig:    g.dnsConfig(p),
		PortMappings: PortMappings(p),
	}
	if !p.Spec.HostNetwork {
		h, err := g.hostname(p)
		if err != nil {
			return nil, err
		}
		cfg.Hostname = h
	}
	sc := &runtimeapi.LinuxSandboxSecurityContext{
		Privileged: HasPrivilegedContainer(p),
		// The kubelet always runs the sandbox with the runtime's default seccomp profile.
		Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
	}
	lc := &runtimeapi.LinuxPodSandboxConfig{
		CgroupParent:    CgroupParent(qos, string(p.UID), g.node.CgroupDriver),
		SecurityContext: sc,
		Sysctls:         map[string]string{},
	}
	if psc := p.Spec.SecurityContext; psc != nil {
		for _, s := range psc.Sysctls {
			lc.Sysctls[s.Name] = s.Value
		}
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.NamespaceOptions = NamespaceOptions(p)
		if psc.FSGroup != nil {
			sc.SupplementalGroups = append(sc.SupplementalGroups, *psc.FSGroup)
		}
		sc.SupplementalGroups = append(sc.SupplementalGroups, psc.SupplementalGroups...)
		if psc.SupplementalGroupsPolicy != nil {
			pol, err := supplementalGroupsPolicy(psc.SupplementalGroupsPolicy)
			if err != nil {
				return nil, err
			}
			sc.SupplementalGroupsPolicy = pol
		}
		sc.SelinuxOptions = selinuxOption(psc.SELinuxOptions)
		if p.Spec.HostUsers != nil && !*p.Spec.HostUsers {
			g.warn("spec.hostUsers", "false: the kubelet allocates the pod's uid/gid ranges from node state; mappings left out")
		}
	}
	lc.Resources = sandboxResources(p, g.node)
	lc.Overhead = sandboxOverhead(p, g.node)
	cfg.Linux = lc
	return cfg, nil
}

// hostname is the kubelet's GeneratePodHostNameAndDomain and
// GetNodenameForKernel.
func (g *generator) hostname(p *v1.Pod) (string, error) {
	if p.Spec.HostnameOverride != nil && *p.Spec.HostnameOverride != "" {
		return *p.Spec.HostnameOverride, nil
	}
	host := p.Name
	if p.Spec.Hostname != "" {
		if msgs := validation.IsDNS1123Label(p.Spec.Hostname); len(msgs) != 0 {
			return "", fmt.Errorf("pod Hostname %q is not a valid DNS label: %s", p.Spec.Hostname, strings.Join(msgs, ";"))
		}
		host = p.Spec.Hostname
	}
	if len(host) > 63 {
		host = strings.TrimRight(host[:63], "-.")
		if host == "" {
			return "", fmt.Errorf("hostname for pod %q was invalid: %q", p.Name, p.Name)
		}
	}
	domain := ""
	if p.Spec.Subdomain != "" {
		if msgs := validation.IsDNS1123Label(p.Spec.Subdomain); len(msgs) != 0 {
			return "", fmt.Errorf("pod Subdomain %q is not a valid DNS label: %s", p.Spec.Subdomain, strings.Join(msgs, ";"))
		}
		domain = fmt.Sprintf("%s.%s.svc.%s", p.Spec.Subdomain, p.Namespace, g.node.clusterDomain())
	}
	if p.Spec.SetHostnameAsFQDN != nil && *p.Spec.SetHostnameAsFQDN && domain != "" {
		fqdn := host + "." + domain
		if len(fqdn) > 64 {
			return "", fmt.Errorf("failed to construct FQDN from pod hostname and cluster domain, FQDN %s is too long (%d characters is the max, %d characters requested)", fqdn, 64, len(fqdn))
		}
		return fqdn, nil
	}
	return host, nil
}

// DNS limits the kubelet enforces on the final configuration.
const (
	MaxDNSNameservers = 3
	MaxDNSSearchPaths = 32
)

// dnsConfig is the kubelet's GetPodDNS.
func (g *generator) dnsConfig(p *v1.Pod) *runtimeapi.DNSConfig {
	host := func() *runtimeapi.DNSConfig {
		if g.node.HostDNS == nil {
			g.warn("spec.dnsPolicy", "%s: the node's resolv.conf is not known here; its servers, searches and options are left out", p.Spec.DNSPolicy)
			return &runtimeapi.DNSConfig{}
		}
		return &runtimeapi.DNSConfig{
			Servers:  append([]string(nil), g.node.HostDNS.Servers...),
			Searches: append([]string(nil), g.node.HostDNS.Searches...),
			Options:  append([]string(nil), g.node.HostDNS.Options...),
		}
	}
	var cfg *runtimeapi.DNSConfig
	cluster := false
	switch p.Spec.DNSPolicy {
	case v1.DNSNone:
		cfg = &runtimeapi.DNSConfig{}
	case v1.DNSClusterFirstWithHostNet:
		cluster = true
	case v1.DNSDefault:
		cfg = host()
	default: // ClusterFirst
		if p.Spec.HostNetwork {
			cfg = host()
		} else {
			cluster = true
		}
	}
	if cluster {
		if len(g.node.ClusterDNS) == 0 {
			g.warn("spec.dnsPolicy", "no cluster DNS server given: the kubelet falls back to the %q policy", v1.DNSDefault)
			cfg = host()
		} else {
			base := host()
			d := g.node.clusterDomain()
			cfg = &runtimeapi.DNSConfig{
				Servers:  append([]string(nil), g.node.ClusterDNS...),
				Searches: dedupe(append([]string{p.Namespace + ".svc." + d, "svc." + d, d}, base.Searches...)),
				Options:  []string{"ndots:5"},
			}
		}
	}
	if dc := p.Spec.DNSConfig; dc != nil {
		cfg.Servers = dedupe(append(cfg.Servers, dc.Nameservers...))
		cfg.Searches = dedupe(append(cfg.Searches, dc.Searches...))
		cfg.Options = mergeDNSOptions(cfg.Options, dc.Options)
	}
	if len(cfg.Servers) > MaxDNSNameservers {
		g.warn("spec.dnsConfig", "nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: %s", strings.Join(cfg.Servers[:MaxDNSNameservers], " "))
		cfg.Servers = cfg.Servers[:MaxDNSNameservers]
	}
	if len(cfg.Searches) > MaxDNSSearchPaths {
		g.warn("spec.dnsConfig", "search line limits were exceeded, some search paths have been omitted")
		cfg.Searches = cfg.Searches[:MaxDNSSearchPaths]
	}
	return cfg
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// mergeDNSOptions keeps base's options, replacing those the pod sets again
// by name; a pod option without a value is written as its name alone.
func mergeDNSOptions(base []string, pod []v1.PodDNSConfigOption) []string {
	vals := map[string]string{}
	var order []string
	add := func(name, value string) {
		if _, ok := vals[name]; !ok {
			order = append(order, name)
		}
		vals[name] = value
	}
	for _, o := range base {
		name, value, _ := strings.Cut(o, ":")
		add(name, value)
	}
	for _, o := range pod {
		v := ""
		if o.Value != nil {
			v = *o.Value
		}
		add(o.Name, v)
	}
	out := make([]string, 0, len(order))
	for _, n := range order {
		if vals[n] == "" {
			out = append(out, n)
		} else {
			out = append(out, n+":"+vals[n])
		}
	}
	return out
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (g *generator) containerConfig(p *v1.Pod, c *v1.Container, kind, field string, restartCount int, img ImageUser) (*runtimeapi.ContainerConfig, error) {
	if !img.Known {
		g.warn(field+".image", "the image's USER is not known: run_as_user is left unset unless the pod sets runAsUser, and runAsNonRoot is checked only against runAsUser")
	} else if err := VerifyRunAsNonRoot(p, c, img.UID, img.Name); err != nil {
		return nil, err
	}
	envr := &envResolver{pod: p, node: g.node, warn: g.warn, field: field}
	env, err := envr.resolve(c)
	if err != nil {
		return nil, err
	}
	if p.Spec.EnableServiceLinks != nil {
		g.warn(field+".env", "service variables (KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT, KUBERNETES_PORT_443_TCP*%s) come from the cluster's Services; not generated",
			map[bool]string{true: ", and one set per Service in namespace " + p.Namespace, false: ""}[*p.Spec.EnableServiceLinks])
	}
	envMap := make(map[string]string, len(env))
	for _, e := range env {
		envMap[e.Name] = e.Value
	}
	lookup := func(n string) (string, bool) { v, ok := envMap[n]; return v, ok }
	expand := func(in []string) []string {
		if len(in) == 0 {
			return nil
		}
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = ExpandVars(s, lookup)
		}
		return out
	}

	ann, err := ContainerAnnotations(p, c, restartCount)
	if err != nil {
		return nil, err
	}
	mounts, err := g.mounts(p, c, field, restartCount)
	if err != nil {
		return nil, err
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: uint32(restartCount)},
		Image:       &runtimeapi.ImageSpec{Image: c.Image, UserSpecifiedImage: c.Image},
		Command:     expand(c.Command),
		Args:        expand(c.Args),
		WorkingDir:  c.WorkingDir,
		Labels:      ContainerLabels(p, c.Name),
		Annotations: ann,
		Mounts:      mounts,
		LogPath:     kubelet.ContainerLogFile(c.Name, restartCount),
		Stdin:       c.Stdin,
		StdinOnce:   c.StdinOnce,
		Tty:         c.TTY,
	}
	// The API server drops lifecycle.stopSignal when ContainerStopSignals is
	// off, and the kubelet does not send it either.
	if c.Lifecycle != nil && c.Lifecycle.StopSignal != nil && g.node.featureEnabled(FeatureContainerStopSignals) {
		name := "SIGNAL_" + strings.NewReplacer("+", "PLUS", "-", "MINUS").Replace(string(*c.Lifecycle.StopSignal))
		sig, ok := runtimeapi.Signal_value[name]
		if !ok {
			return nil, fmt.Errorf("%s.lifecycle.stopSignal: unsupported signal %q", field, *c.Lifecycle.StopSignal)
		}
		cfg.StopSignal = runtimeapi.Signal(sig)
	}
	for _, e := range env {
		cfg.Envs = append(cfg.Envs, &runtimeapi.KeyValue{Key: e.Name, Value: []byte(e.Value)})
	}
	sc, err := containerSecurityContext(p, c, g.node, img)
	if err != nil {
		return nil, err
	}
	if kind == KindEphemeral {
		if tc := p.Spec.EphemeralContainers; tc != nil {
			for i := range tc {
				if tc[i].Name == c.Name && tc[i].TargetContainerName != "" && sc.NamespaceOptions.Pid == runtimeapi.NamespaceMode_CONTAINER {
					sc.NamespaceOptions.Pid = runtimeapi.NamespaceMode_TARGET
					g.warn(field+".targetContainerName", "the PID namespace target is the running container's ID, not known here; target_id left empty")
				}
			}
		}
	}
	cfg.Linux = &runtimeapi.LinuxContainerConfig{
		Resources:       containerResources(p, c, g.node),
		SecurityContext: sc,
	}
	return cfg, nil
}

// podDir is the kubelet's per-pod directory.
func (g *generator) podDir(p *v1.Pod) string {
	return filepath.Join(g.node.rootDir(), "pods", string(p.UID))
}

// Volume plugin directory names under <podDir>/volumes.
var volumePluginDirs = map[string]string{
	"emptyDir":    "kubernetes.io~empty-dir",
	"configMap":   "kubernetes.io~configmap",
	"secret":      "kubernetes.io~secret",
	"projected":   "kubernetes.io~projected",
	"downwardAPI": "kubernetes.io~downward-api",
}

// mounts is the kubelet's makeMounts: volume mounts in order, the managed
// /etc/hosts, and the termination message file.
func (g *generator) mounts(p *v1.Pod, c *v1.Container, field string, restartCount int) ([]*runtimeapi.Mount, error) {
	vols := map[string]*v1.Volume{}
	for i := range p.Spec.Volumes {
		vols[p.Spec.Volumes[i].Name] = &p.Spec.Volumes[i]
	}
	podDir := g.podDir(p)
	var out []*runtimeapi.Mount
	mountsHosts, mountsSA := false, false
	for i, vm := range c.VolumeMounts {
		f := fmt.Sprintf("%s.volumeMounts[%d]", field, i)
		if vm.MountPath == "/etc/hosts" {
			mountsHosts = true
		}
		if vm.MountPath == ServiceAccountMountPath {
			mountsSA = true
		}
		v, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("%s.name: no volume %q in spec.volumes", f, vm.Name)
		}
		host, readOnly := "", vm.ReadOnly
		switch {
		case v.HostPath != nil:
			host = v.HostPath.Path
		case v.EmptyDir != nil:
			host = filepath.Join(podDir, "volumes", volumePluginDirs["emptyDir"], v.Name)
		case v.ConfigMap != nil:
			host, readOnly = filepath.Join(podDir, "volumes", volumePluginDirs["configMap"], v.Name), true
		case v.Secret != nil:
			host, readOnly = filepath.Join(podDir, "volumes", volumePluginDirs["secret"], v.Name), true
		case v.Projected != nil:
			host, readOnly = filepath.Join(podDir, "volumes", volumePluginDirs["projected"], v.Name), true
		case v.DownwardAPI != nil:
			host, readOnly = filepath.Join(podDir, "volumes", volumePluginDirs["downwardAPI"], v.Name), true
		default:
			g.warn(f, "volume %q: its host path depends on the volume plugin and what is bound at run time; mount left out", vm.Name)
			continue
		}
		if vm.SubPath != "" || vm.SubPathExpr != "" {
			// The kubelet bind-mounts each subPath under volume-subpaths.
			host = filepath.Join(podDir, "volume-subpaths", v.Name, c.Name, strconv.Itoa(i))
		}
		m := &runtimeapi.Mount{
			ContainerPath: vm.MountPath,
			HostPath:      host,
			Readonly:      readOnly,
			Propagation:   mountPropagation(vm.MountPropagation),
		}
		if vm.RecursiveReadOnly != nil && *vm.RecursiveReadOnly != v1.RecursiveReadOnlyDisabled {
			m.RecursiveReadOnly = true
			if *vm.RecursiveReadOnly == v1.RecursiveReadOnlyIfPossible {
				g.warn(f+".recursiveReadOnly", "IfPossible: assumed the runtime supports recursive read-only mounts")
			}
		}
		out = append(out, m)
	}
	if !mountsHosts {
		out = append(out, &runtimeapi.Mount{ContainerPath: "/etc/hosts", HostPath: filepath.Join(podDir, "etc-hosts")})
	}
	if c.TerminationMessagePath != "" {
		out = append(out, &runtimeapi.Mount{
			ContainerPath: c.TerminationMessagePath,
			HostPath:      filepath.Join(podDir, "containers", c.Name, terminationFileID(p, c.Name, restartCount)),
		})
	}
	automount := p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken
	if automount && !mountsSA {
		g.warn(field+".volumeMounts", "the ServiceAccount admission plugin would add a projected token volume (kube-api-access-<random>) at %s; not generated", ServiceAccountMountPath)
	}
	return out, nil
}

// terminationFileID stands in for the random 8-hex-digit name the kubelet
// gives each attempt's termination message file; it is stable so output is
// reproducible.
func terminationFileID(p *v1.Pod, name string, restartCount int) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%s/%d", p.UID, name, restartCount)
	return fmt.Sprintf("%08x", h.Sum32())
}

func mountPropagation(m *v1.MountPropagationMode) runtimeapi.MountPropagation {
	if m == nil {
		return runtimeapi.MountPropagation_PROPAGATION_PRIVATE
	}
	switch *m {
	case v1.MountPropagationHostToContainer:
		return runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
	case v1.MountPropagationBidirectional:
		return runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
	}
	return runtimeapi.MountPropagation_PROPAGATION_PRIVATE
}
