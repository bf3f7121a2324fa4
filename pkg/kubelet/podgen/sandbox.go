package podgen

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/specguard/specguard/pkg/kubelet"
)

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
