package podgen

import (
	"encoding/json"
	"fmt"
	"strconv"

	v1 "k8s.io/api/core/v1"

	"github.com/specguard/specguard/pkg/kubelet"
)

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
