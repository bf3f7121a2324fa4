package podgen

import (
	"errors"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// DefaultContainerAnnotation names the container kubectl picks by default.
const DefaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

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
