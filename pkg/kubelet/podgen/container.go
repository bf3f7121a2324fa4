package podgen

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/specguard/specguard/pkg/kubelet"
)

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
