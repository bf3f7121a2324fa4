package podgen

import (
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Values the API server fills in when a pod is created.
const (
	DefaultNamespace                = "default"
	DefaultTerminationMessagePath   = "/dev/termination-log"
	DefaultTerminationGracePeriod   = int64(30)
	DefaultServiceAccountName       = "default"
	defaultTerminationMessagePolicy = v1.TerminationMessageReadFile
)

// DefaultPod returns a copy of pod with what the API server's defaulting and
// its default admission plugins would have set before the kubelet saw it, as
// far as it changes what the kubelet sends to the runtime:
//
//   - namespace "default", restartPolicy Always, dnsPolicy ClusterFirst,
//     terminationGracePeriodSeconds 30, enableServiceLinks true,
//     serviceAccountName "default", an empty pod securityContext;
//   - for every container: terminationMessagePath /dev/termination-log,
//     terminationMessagePolicy File, port protocol TCP, hostPort =
//     containerPort on hostNetwork pods, missing requests taken from limits,
//     httpGet handlers with path "/" and scheme HTTP, fieldRef apiVersion v1;
//   - spec.priority from the built-in system-node-critical and
//     system-cluster-critical classes (the Priority admission plugin).
//
// Things the API server makes up (uid, generated names, the service account
// token volume) are not invented here; see GenerateConfigs.
func DefaultPod(pod *v1.Pod) *v1.Pod {
	p := pod.DeepCopy()
	if p.Namespace == "" {
		p.Namespace = DefaultNamespace
	}
	s := &p.Spec
	if s.RestartPolicy == "" {
		s.RestartPolicy = v1.RestartPolicyAlways
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = v1.DNSClusterFirst
	}
	if s.TerminationGracePeriodSeconds == nil {
		g := DefaultTerminationGracePeriod
		s.TerminationGracePeriodSeconds = &g
	}
	if s.EnableServiceLinks == nil {
		t := true
		s.EnableServiceLinks = &t
	}
	if s.ServiceAccountName == "" {
		if s.DeprecatedServiceAccount != "" {
			s.ServiceAccountName = s.DeprecatedServiceAccount
		} else {
			s.ServiceAccountName = DefaultServiceAccountName
		}
	}
	if s.SecurityContext == nil {
		s.SecurityContext = &v1.PodSecurityContext{}
	}
	if s.Priority == nil {
		switch s.PriorityClassName {
		case SystemNodeCritical:
			v := SystemNodeCriticalPriority
			s.Priority = &v
		case SystemClusterCritical:
			v := SystemClusterCriticalPriority
			s.Priority = &v
		}
	}
	if s.Resources != nil {
		defaultRequests(s.Resources)
	}
	for i := range s.InitContainers {
		defaultContainer(&s.InitContainers[i], s.HostNetwork, true)
	}
	for i := range s.Containers {
		defaultContainer(&s.Containers[i], s.HostNetwork, true)
	}
	for i := range s.EphemeralContainers {
		c := (*v1.Container)(&s.EphemeralContainers[i].EphemeralContainerCommon)
		defaultContainer(c, false, false)
	}
	return p
}

func defaultContainer(c *v1.Container, hostNetwork, requests bool) {
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = DefaultTerminationMessagePath
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = defaultTerminationMessagePolicy
	}
	for i := range c.Ports {
		p := &c.Ports[i]
		if p.Protocol == "" {
			p.Protocol = v1.ProtocolTCP
		}
		if hostNetwork && p.HostPort == 0 {
			p.HostPort = p.ContainerPort
		}
	}
	if requests {
		defaultRequests(&c.Resources)
	}
	if c.Lifecycle != nil {
		defaultHandler(c.Lifecycle.PostStart)
		defaultHandler(c.Lifecycle.PreStop)
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil && vf.FieldRef != nil && vf.FieldRef.APIVersion == "" {
			vf.FieldRef.APIVersion = "v1"
		}
	}
}

// defaultRequests copies every limit that has no request into requests.
func defaultRequests(r *v1.ResourceRequirements) {
	for name, lim := range r.Limits {
		if _, ok := r.Requests[name]; ok {
			continue
		}
		if r.Requests == nil {
			r.Requests = v1.ResourceList{}
		}
		r.Requests[name] = lim.DeepCopy()
	}
}

func defaultHandler(h *v1.LifecycleHandler) {
	if h == nil || h.HTTPGet == nil {
		return
	}
	if h.HTTPGet.Path == "" {
		h.HTTPGet.Path = "/"
	}
	if h.HTTPGet.Scheme == "" {
		h.HTTPGet.Scheme = v1.URISchemeHTTP
	}
}

// isSidecar reports whether c is a restartable init container of pod.
func isSidecar(pod *v1.Pod, name string) bool {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.Name == name {
			return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
		}
	}
	return false
}

// portName is the key MakePortMappings uses to drop repeated ports: the
// port's name, or family-protocol-hostIP:containerPort:hostPort.
func portName(p v1.ContainerPort) string {
	if p.Name != "" {
		return p.Name
	}
	family := "any"
	if p.HostIP != "" {
		if strings.Contains(p.HostIP, ":") {
			family = "v6"
		} else {
			family = "v4"
		}
	}
	return family + "-" + string(p.Protocol) + "-" + p.HostIP + ":" + strconv.Itoa(int(p.ContainerPort)) + ":" + strconv.Itoa(int(p.HostPort))
}
